#!/usr/bin/env bash
# Installs what is missing, then runs the whole test suite against the real test beds.
# Extra arguments go to pytest (for example: scripts/test.sh tests/softhsm -k pin).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=setup.sh
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec "$VENV/bin/python" -m pytest "$@"
