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

``SshRemote`` is the other way p11-kit reaches a far module: a private sshd that a
``remote: |ssh … p11-kit remote MODULE`` registration runs the module through, no server
running. ``registered_only`` gives one process its own p11-kit registrations (the proxy's).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from testbed.lifeline import Lifeline, process_state

CLIENT_MODULE = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so"
PROXY_MODULE = "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so"
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
# The test suite's PINs (tests/conftest.py), so its driver tests run unchanged on these tokens.
SO_PIN, USER_PIN = "so-pin-2468", "user7pin3"
#: Keys each prepared token holds, made by pkcs11-tool: (label, CKA_ID hex, pkcs11-tool key type).
PREPARED_KEYS = (("rsa", "01", "rsa:2048"), ("p256", "02", "EC:prime256v1"), ("ed", "03", "EC:edwards25519"))
START_TIMEOUT = 30.0
#: Seconds the server has to end after SIGTERM before it is killed.
STOP_GRACE = 10.0

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
               ("softhsm2-util", "softhsm2"), ("pkcs11-tool", "opensc"), ("ssh", "openssh-client"),
               ("ssh-keygen", "openssh-client")) if shutil.which(tool) is None]
    missing += [f"{path} ({pkg})" for path, pkg in ((CLIENT_MODULE, "p11-kit-modules"),
                (PROXY_MODULE, "p11-kit"), (SOFTHSM_MODULE, "softhsm2"), (SSHD, "openssh-server"))
                if not os.path.exists(path)]
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
        _wait_until(self.socket.exists, proc, self.directory / "server.log", "p11-kit server", self.stop)
        return self

    def stop(self) -> None:
        """End the server (its process group: it forks one child per client) and wait until it has
        ended; idempotent."""
        _stop_group(self.directory / "server.pid")
        if self.socket.exists():
            self.socket.unlink()

    def lifeline(self) -> Lifeline:
        """Stop the server when this process ends, however it ends (see ``lifeline``)."""
        return Lifeline([sys.executable, "-m", "testbed.p11kit_bed", "stop", str(self.directory)])


def _wait_until(ready: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path, what: str,
                stop: Callable[[], None]) -> None:
    """Wait for a started service to be ready; if it dies or times out, stop it and fail with its log."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        if ready():
            return
        time.sleep(0.05)
    text = log.read_text(errors="replace")
    stop()
    raise RuntimeError(f"{what} did not start; its log:\n{text}")


def _stop_group(pid_file: Path) -> None:
    """End the process group whose leader's pid the file holds (started with a new session), if any,
    and wait until its leader has ended."""
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    if _signal_group(pid, signal.SIGTERM) and not _wait_gone(pid, STOP_GRACE):
        _signal_group(pid, signal.SIGKILL)  # still there after STOP_GRACE seconds
        _wait_gone(pid, STOP_GRACE)
    pid_file.unlink()


def _signal_group(pid: int, signum: int) -> bool:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` has ended; reap it when it is this process's child (the bed started from
    Python), else leave it to its parent (``start`` from the command line returned: init).
    True once it has ended, a zombie included: only its parent can remove that."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass  # not our child: its state tells
        if process_state(pid) in ("", "Z", "X"):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


#: Where Debian's p11-kit reads the modules that packages register (and /etc/pkcs11/modules,
#: the administrator's). A process running as root never reads ~/.config/pkcs11: p11-kit skips
#: user configuration for root ("skipping user config in program running as root").
SYSTEM_MODULE_DIRS = ("/usr/share/p11-kit/modules", "/etc/pkcs11/modules")


def registered_only(directory: Path, modules: Mapping[str, str]) -> list[str]:
    """A command prefix whose process sees ``modules`` (name -> config text) as p11-kit's only registrations.

    The files go to ``directory``, bound over the system's registration directories in a mount
    namespace of that process alone (root); the rest of the machine keeps its registrations.
    """
    (directory / "none").mkdir(parents=True, exist_ok=True)
    for name, text in modules.items():
        (directory / f"{name}.module").write_text(text)
    binds = [f'mount --bind "$0" {SYSTEM_MODULE_DIRS[0]}']
    binds += [f'mount --bind "$0/none" {d}' for d in SYSTEM_MODULE_DIRS[1:] if os.path.isdir(d)]
    script = " && ".join([*binds, 'exec "$@"'])
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(directory)]


# The far machine's sshd: this directory only, key login for root, one SoftHSM store for its sessions.
_SSHD_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {d}/host_key
AuthorizedKeysFile {d}/authorized_keys
PidFile none
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
SetEnv SOFTHSM2_CONF={d}/store/softhsm2.conf
"""
SSHD = "/usr/sbin/sshd"
#: The key each token of the far store holds, made there by pkcs11-tool: (label, CKA_ID hex, type).
FAR_KEY = ("p256", "02", "EC:prime256v1")


@dataclass
class SshRemote:
    """The far machine of ``p11-kit remote``: a private sshd on 127.0.0.1 whose sessions see one SoftHSM store.

    p11-kit's ``remote: |ssh … p11-kit remote MODULE`` runs the module over there for each
    process that loads the registration, speaking the RPC over the SSH pipe; no server runs.
    """

    directory: Path
    port: int = 0

    @property
    def ssh(self) -> list[str]:
        """The ssh command line of the registration (host key pinned in known_hosts)."""
        d = self.directory
        return ["ssh", "-p", str(self.port), "-i", f"{d}/id", "-o", "BatchMode=yes",
                "-o", f"UserKnownHostsFile={d}/known_hosts", "-o", "StrictHostKeyChecking=yes", "root@127.0.0.1"]

    def module_config(self) -> str:
        """A p11-kit module registration that reaches the far store's SoftHSM over SSH."""
        return f"remote: |{' '.join(self.ssh)} p11-kit remote {SOFTHSM_MODULE}\n"

    def start(self, tokens: Sequence[str] = ("far1",)) -> SshRemote:
        """Make the far store (tokens with SO_PIN/USER_PIN and FAR_KEY), keys and config; start sshd."""
        self.stop()
        self._make_store(tokens)
        d = self.directory
        for name in ("host_key", "id"):
            (d / name).unlink(missing_ok=True)
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
        (d / "authorized_keys").write_bytes((d / "id.pub").read_bytes())
        self.port = _free_port()
        host_key = " ".join((d / "host_key.pub").read_text().split()[:2])
        (d / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_key}\n")
        (d / "sshd_config").write_text(_SSHD_CONFIG.format(port=self.port, d=d))
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        with open(d / "sshd.log", "wb") as log:
            proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        (d / "sshd.pid").write_text(str(proc.pid))
        _wait_until(self._listening, proc, d / "sshd.log", "sshd", self.stop)
        return self

    def _make_store(self, tokens: Sequence[str]) -> None:
        store = self.directory / "store"
        (store / "tokens").mkdir(parents=True, exist_ok=True)
        (store / "softhsm2.conf").write_text(
            f"directories.tokendir = {store}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n")
        env = {**os.environ, "SOFTHSM2_CONF": str(store / "softhsm2.conf")}
        label, kid, ktype = FAR_KEY
        for token in tokens:
            subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", token, "--so-pin", SO_PIN,
                            "--pin", USER_PIN], env=env, check=True, capture_output=True)
            subprocess.run(["pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", token, "--login",
                            "--pin", USER_PIN, "--keypairgen", "--key-type", ktype, "--label", label, "--id", kid],
                           env=env, check=True, capture_output=True)

    def _listening(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        """End sshd (its process group); idempotent."""
        _stop_group(self.directory / "sshd.pid")

    def lifeline(self) -> Lifeline:
        """Stop sshd when this process ends, however it ends (see ``lifeline``)."""
        return Lifeline([sys.executable, "-m", "testbed.p11kit_bed", "stop", "--sshd", str(self.directory)])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.p11kit_bed", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("directory", type=Path)
    parser.add_argument("tokens", nargs="*", default=["remote1"])
    parser.add_argument("--sshd", action="store_true", help="stop: the SSH far machine's sshd (SshRemote) in DIR")
    args = parser.parse_args(argv)
    bed = RemoteBed(args.directory.resolve())
    if args.action == "stop":
        (SshRemote(args.directory.resolve()) if args.sshd else bed).stop()
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
