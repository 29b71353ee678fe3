#!/usr/bin/env bash
# The simulated USB-Key for QA: a private SoftHSM token store in DIR, with tokens by label.
#
#   softhsm/store.sh DIR create LABEL   # asks for the SO PIN and user PIN (or SO_PIN_VAR/PIN_VAR)
#   softhsm/store.sh DIR list
#   softhsm/store.sh DIR delete LABEL
#   softhsm/store.sh DIR env            # prints the exports that point other tools at DIR
#
# It is sitoken's own simulated store (sitoken.pkcs11.softhsm.SimStore), the one the tests and
# the demo use, so pkcs11-tool, softhsm2-util and sitoken all see the same tokens.
# PINs never go on a command line: set SO_PIN_VAR / PIN_VAR to the *names* of variables
# holding them, or answer the prompts.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SITOKEN="${SITOKEN:-$ROOT/.venv/bin/sitoken}"

[ $# -ge 2 ] || { sed -n '2,12p' "$0"; exit 2; }
DIR="$(mkdir -p "$1" && cd "$1" && pwd)"; shift
export SITOKEN_SIM_DIR="$DIR"
unset SOFTHSM2_CONF
unset SITOKEN_MODULE

case "$1" in
  create)
    args=(sim create "$2")
    [ -n "${SO_PIN_VAR:-}" ] && args+=(--so-pin-env "$SO_PIN_VAR")
    [ -n "${PIN_VAR:-}" ] && args+=(--pin-env "$PIN_VAR")
    exec "$SITOKEN" "${args[@]}" ;;
  list) exec "$SITOKEN" sim list ;;
  delete) exec "$SITOKEN" sim delete "$2" --force ;;
  env)
    "$SITOKEN" sim list >/dev/null   # writes softhsm2.conf if the store is new
    printf "export SITOKEN_SIM_DIR=%q\nexport SOFTHSM2_CONF=%q\n" "$DIR" "$DIR/softhsm2.conf" ;;
  *) echo "unknown action: $1" >&2; exit 2 ;;
esac
