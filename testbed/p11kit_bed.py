"""The remote-token test bed: a real ``p11-kit server`` serving SoftHSM tokens from another "machine".

The server runs in its own mount namespace (``unshare -m``, as root), with its SoftHSM store
on a tmpfs mounted only there: the client side sees the socket and nothing else, as a counter
PC sees a token server across the network. The store is made outside sitoken, by
``softhsm2-util`` and OpenSC's ``pkcs11-tool``, and sitoken reaches it through
``p11-kit-client.so`` with ``P11_KIT_SERVER_ADDRESS``. The server serves every SoftHSM slot,
the free one too, so a client can initialise new tokens through the RPC.

Layout of the bed directory::

    store/        mount point of the server's private tmpfs (empty seen from outside)
    server.sock   the server's socket
    server.pid    the server's process id (for ``stop``)
    server.log    what the server and the store set-up printed

From Python: ``RemoteBed(dir).start(["remote1"])`` … ``stop()``; by hand::

    python -m testbed.p11kit_bed start /tmp/sitoken-remote remote1 remote2   # prints the export line
    python -m testbed.p11kit_bed stop /tmp/sitoken-remote

The local variant, ``proxy_home``, registers SoftHSM alone with ``p11-kit-proxy.so`` for a
process whose ``HOME`` points there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CLIENT_MODULE = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so"
PROXY_MODULE = "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so"
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
# The test suite's PINs (tests/conftest.py), so its driver tests run unchanged on these tokens.
SO_PIN, USER_PIN = "so-pin-2468", "user7pin3"
#: Keys each prepared token holds, made by pkcs11-tool: (label, CKA_ID hex, pkcs11-tool key type).
PREPARED_KEYS = (("rsa", "01", "rsa:2048"), ("p256", "02", "EC:prime256v1"), ("ed", "03", "EC:edwards25519"))
START_TIMEOUT = 30.0

# Runs inside the new mount namespace: everything it mounts disappears with the server.
_SERVER_SCRIPT = r"""
set -eu
mount -t tmpfs -o mode=0700,size=64m sitoken-remote-store "$BED_STORE"
mkdir "$BED_STORE/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$BED_STORE" > "$BED_STORE/softhsm2.conf"
export SOFTHSM2_CONF="$BED_STORE/softhsm2.conf"
# Spare tokens: a client connection sees the slots of its start only, so tests that need
# fresh tokens re-initialise spares instead of taking SoftHSM's next free slot.
i=0
while [ "$i" -lt "$BED_SPARES" ]; do
  i=$((i + 1))
  softhsm2-util --init-token --free --label "spare-$i" --so-pin "$BED_SO_PIN" --pin "$BED_PIN" >/dev/null
done
for label in $BED_TOKENS; do
  softhsm2-util --init-token --free --label "$label" --so-pin "$BED_SO_PIN" --pin "$BED_PIN" >/dev/null
  for key in $BED_KEYS; do
    IFS=: read -r klabel kid ktype kcurve <<EOF
$key
EOF
    pkcs11-tool --module "$BED_SOFTHSM" --token-label "$label" --login --pin "$BED_PIN" \
      --keypairgen --key-type "$ktype${kcurve:+:$kcurve}" --label "$klabel" --id "$kid" >/dev/null
  done
done
exec p11-kit server -f --provider "$BED_SOFTHSM" -n "$BED_SOCKET" "pkcs11:model=SoftHSM%20v2"
"""


def missing_parts() -> list[str]:
    """What this machine lacks to run the bed (empty: everything is there)."""
    missing = [f"{tool} ({pkg})" for tool, pkg in (("p11-kit", "p11-kit"), ("unshare", "util-linux"),
               ("softhsm2-util", "softhsm2"), ("pkcs11-tool", "opensc")) if shutil.which(tool) is None]
    missing += [f"{path} ({pkg})" for path, pkg in ((CLIENT_MODULE, "p11-kit-modules"),
                (PROXY_MODULE, "p11-kit"), (SOFTHSM_MODULE, "softhsm2")) if not os.path.exists(path)]
    if os.geteuid() != 0:
        missing.append("root (a private mount namespace needs it)")
    return missing


@dataclass
class RemoteBed:
    """A ``p11-kit server`` in its own mount namespace, serving a SoftHSM store only it can see."""

    directory: Path

    @property
    def socket(self) -> Path:
        return self.directory / "server.sock"

    @property
    def store(self) -> Path:
        return self.directory / "store"

    @property
    def address(self) -> str:
        return f"unix:path={self.socket}"

    def env(self) -> dict[str, str]:
        """What a client process needs, with ``p11-kit-client.so`` as its module."""
        return {"P11_KIT_SERVER_ADDRESS": self.address}

    def start(self, tokens: Sequence[str] = ("remote1",), *, keys: bool = True, spares: int = 0) -> RemoteBed:
        """Make the store (tokens with SO_PIN/USER_PIN and, with ``keys``, PREPARED_KEYS), serve it.

        ``spares`` more tokens, labelled ``spare-1`` …, are there to be re-initialised.
        """
        self.stop()
        self.store.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ, "BED_STORE": str(self.store), "BED_SOCKET": str(self.socket),
            "BED_SOFTHSM": SOFTHSM_MODULE, "BED_TOKENS": " ".join(tokens),
            "BED_SO_PIN": SO_PIN, "BED_PIN": USER_PIN, "BED_SPARES": str(spares),
            "BED_KEYS": " ".join(":".join((label, kid, kind)) for label, kid, kind in PREPARED_KEYS)
            if keys else "",
        }
        env.pop("SOFTHSM2_CONF", None)
        with open(self.directory / "server.log", "wb") as log:
            proc = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", _SERVER_SCRIPT],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (self.directory / "server.pid").write_text(str(proc.pid))
        self._wait_for_socket(proc)
        return self

    def _wait_for_socket(self, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.socket.exists():
                return
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        log = (self.directory / "server.log").read_text(errors="replace")
        self.stop()
        raise RuntimeError(f"p11-kit server did not start; its log:\n{log}")

    def stop(self) -> None:
        """End the server (its process group: it forks one child per client); idempotent."""
        pid_file = self.directory / "server.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text())
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            else:
                _wait_gone(pid)
            pid_file.unlink()
        if self.socket.exists():
            self.socket.unlink()


def _wait_gone(pid: int) -> None:
    for _ in range(100):
        try:
            os.waitpid(pid, os.WNOHANG)
            os.kill(pid, 0)
        except (ChildProcessError, ProcessLookupError):
            return
        time.sleep(0.05)


def proxy_home(home: Path, softhsm_conf: str) -> dict[str, str]:
    """Environment for a process that reaches SoftHSM (and nothing else) through p11-kit-proxy.so.

    p11-kit reads per-user module registrations under ``$HOME/.config/pkcs11``;
    ``user-config: only`` keeps the system's registrations (OpenSC, …) out.
    """
    conf = home / ".config" / "pkcs11"
    (conf / "modules").mkdir(parents=True, exist_ok=True)
    (conf / "pkcs11.conf").write_text("user-config: only\n")
    (conf / "modules" / "softhsm2.module").write_text(f"module: {SOFTHSM_MODULE}\n")
    return {"HOME": str(home), "SOFTHSM2_CONF": softhsm_conf}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.p11kit_bed", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("directory", type=Path)
    parser.add_argument("tokens", nargs="*", default=["remote1"])
    args = parser.parse_args(argv)
    bed = RemoteBed(args.directory.resolve())
    if args.action == "stop":
        bed.stop()
        return 0
    missing = missing_parts()
    if missing:
        print("missing: " + ", ".join(missing), file=sys.stderr)
        return 1
    args.directory.mkdir(parents=True, exist_ok=True)
    bed.start(args.tokens)
    print(f"export P11_KIT_SERVER_ADDRESS={bed.address}  # module: {CLIENT_MODULE}; "
          f"PINs: SO {SO_PIN}, user {USER_PIN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
