#!/usr/bin/env bash
# Installs what is missing, then runs the whole test suite against the real test beds.
# Extra arguments go to pytest (for example: scripts/test.sh tests/softhsm -k pin).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=setup.sh
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
# Coverage of the library is measured on every run (SITOKEN_COV=0 turns it off: faster, and
# no tracer in the way of a debugger). Only lines of sitoken are counted, not the tests.
COV_ARGS=()
if [ "${SITOKEN_COV:-1}" != "0" ]; then
  COV_ARGS=(--cov=sitoken --cov-report=term:skip-covered)
fi
# The tests run in parallel, one pytest-xdist worker per core (SITOKEN_WORKERS=N sets the count;
# SITOKEN_WORKERS=0 runs everything in this one process, as a debugger needs). Every worker makes
# its own test beds; --dist loadgroup keeps the tests of one costly bed on one worker.
XDIST_ARGS=(-n "${SITOKEN_WORKERS:-auto}")
if [ "${SITOKEN_WORKERS:-auto}" != "0" ]; then
  XDIST_ARGS+=(--dist loadgroup)
fi
exec "$VENV/bin/python" -m pytest "${XDIST_ARGS[@]}" ${COV_ARGS[@]+"${COV_ARGS[@]}"} "$@"
