#!/usr/bin/env bash
# Installs what sitoken needs on Debian 12 and builds .venv: idempotent, quiet when nothing is missing.
# Sourced by scripts/demo.sh and scripts/test.sh; run it alone to set up a development checkout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

# Debian packages: the SoftHSM module and tool, OpenSC, a PC/SC daemon with the vpcd virtual
# reader, the headers pyscard and the cffi extension build against, and Python's venv;
# libssl-dev and make build the software SKF token (softskf/); GnuPG's scdaemon reads the card's
# certificates in the suite (as the second card client); Node.js runs the web page library's
# timing tests outside a browser.
APT_PACKAGES=(
  softhsm2 opensc opensc-pkcs11 pcscd vsmartcard-vpcd libpcsclite-dev swig gcc python3-dev python3-venv
  openssl procps postgresql
  p11-kit p11-kit-modules libnss3-tools libssl-dev make gnupg scdaemon openssh-client openssh-server
  chromium firefox-esr pinentry-tty pinentry-curses nodejs
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing_packages() {
  local pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
  done
}

install_apt() {
  local missing
  missing="$(missing_packages | tr '\n' ' ')"
  [ -z "${missing// /}" ] && return 0
  echo "sitoken setup: installing Debian packages: $missing"
  as_root apt-get update -qq
  # The daemons among these (sshd, PostgreSQL, pcscd) serve only the test beds, which start their
  # own private instances: Debian's policy-rc.d hook keeps the packages from starting system-wide
  # ones (an sshd on port 22, a cluster on 5432). Only a hook made here is removed afterwards.
  local policy=/usr/sbin/policy-rc.d made_policy=""
  if [ ! -e "$policy" ]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy" && made_policy=1
  fi
  local status=0
  # shellcheck disable=SC2086
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null \
    || status=$?
  [ -n "$made_policy" ] && as_root rm -f "$policy"
  return "$status"
}

# The system's pcscd (socket-activated by systemd) is left alone: the test bed runs its own.
install_venv() {
  local python="${PYTHON:-python3}"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "sitoken setup: creating $VENV with $("$python" --version)"
    "$python" -m venv "$VENV"
  fi
  local stamp="$VENV/.sitoken-installed"
  if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ] || [ "$ROOT/setup.py" -nt "$stamp" ] \
     || ! "$VENV/bin/python" -c "import sitoken, pytest" 2>/dev/null; then
    echo "sitoken setup: installing sitoken and its test extras into .venv"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -e "$ROOT[test]"
    touch "$stamp"
  fi
}

# The emulated OpenPGP card lives in a venv of its own: its "smartcard" package would
# shadow pyscard's module of the same name in .venv.
install_emulator() {
  local emu="$ROOT/.venv-emu"
  if ! "$emu/bin/python" -m pip show -q smartcard-app-openpgp >/dev/null 2>&1; then
    echo "sitoken setup: installing the OpenPGP card emulator into .venv-emu"
    (cd "$ROOT" && "$VENV/bin/python" -m testbed.pcsc_bed setup-emu >/dev/null)
  fi
}

# The software SKF token: make rebuilds only what changed, so this is quick when nothing did.
build_softskf() {
  make -s -C "$ROOT/softskf" >/dev/null || { echo "sitoken setup: building softskf failed" >&2; return 1; }
}

install_apt
build_softskf
install_venv
install_emulator
export PATH="$VENV/bin:$PATH"
