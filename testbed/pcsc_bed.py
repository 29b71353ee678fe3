"""The PC/SC test bed: a private pcscd, the vpcd virtual reader and the emulated OpenPGP card.

Layout of the bed directory (default ``/tmp/sitoken-pcsc``, or ``SITOKEN_PCSC_DIR``)::

    conf/vpcd        private reader.conf.d entry (vpcd on private TCP ports P and P+1)
    pcscd.comm       private pcscd socket (clients find it through PCSCLITE_CSOCK_NAME)
    pcscd.log        pcscd's own log (the only place a vpcd port clash shows)
    cardN.pid/.log   card process for reader N ("Virtual PCD 00 0N")
    cardN.apdu       every command APDU card N received: ``CLA INS P1 P2 SIZE`` per line
    cards/           card images (ZODB files), one fresh file per test
    bed.json         port and socket, so ``status``/``stop`` of the CLI find a running bed

Use from Python (``PcscBed(...).start()``, ``insert_card``, ``remove_card``) or by hand::

    python -m testbed.pcsc_bed start      # prints the export line for PCSCLITE_CSOCK_NAME
    python -m testbed.pcsc_bed status
    python -m testbed.pcsc_bed stop

libpcsclite reads ``PCSCLITE_CSOCK_NAME`` once per process (it caches the socket name), so
a process must point it at the bed before its first PC/SC call; ``start()`` does that for
the calling process.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from testbed.lifeline import Lifeline

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent
BRIDGE = HERE / "openpgp_vpcd.py"
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
OPENSC_MODULE = Path("/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so")
OPENPGP_ATR_PREFIX = bytes.fromhex("3bda11ff")
READERS_PER_ENTRY = 2
DEFAULT_DIR = Path(os.environ.get("SITOKEN_PCSC_DIR", "/tmp/sitoken-pcsc"))
EMU_PACKAGE = "smartcard-app-openpgp"

# pcscd is exec'd by this helper so that it inherits a listening socket on fd 3
# (systemd-style socket activation): pcscd 1.9.9 ignores PCSCLITE_CSOCK_NAME itself.
_SOCKACT = """
import os, socket, sys
path = sys.argv[1]
if os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path); os.chmod(path, 0o666); s.listen(64)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
os.execvp("pcscd", ["pcscd", *sys.argv[2:]])
"""


class BedError(RuntimeError):
    """The bed could not be started, or did not reach the expected state in time."""


class BedUnavailable(BedError):
    """A prerequisite of the bed (package, venv, driver) is missing on this machine."""


def emulator_python() -> Path:
    """The interpreter of the emulator venv (``SITOKEN_EMU_PYTHON`` or ``.venv-emu``)."""
    env = os.environ.get("SITOKEN_EMU_PYTHON")
    return Path(env) if env else PROJECT_ROOT / ".venv-emu" / "bin" / "python"


def check_prerequisites(emu_python: Path | None = None) -> None:
    """Raise BedUnavailable naming the first missing piece of the bed."""
    emu = emu_python or emulator_python()
    if shutil.which("pcscd") is None:
        raise BedUnavailable("pcscd not found (apt package pcscd)")
    if not VPCD_DRIVER.exists():
        raise BedUnavailable(f"{VPCD_DRIVER} not found (apt package vsmartcard-vpcd)")
    try:
        import smartcard.scard  # noqa: F401  (pyscard, in the test venv)
    except ImportError as exc:
        raise BedUnavailable(f"pyscard is not importable here: {exc}") from exc
    if not emu.exists():
        raise BedUnavailable(
            f"emulator venv missing: {emu} (run: python -m testbed.pcsc_bed setup-emu)"
        )
    probe = subprocess.run(
        [str(emu), "-c", "import smartcard.app.openpgp, ZODB"],
        capture_output=True, timeout=30, check=False,
    )
    if probe.returncode != 0:
        raise BedUnavailable(f"{emu} cannot import the OpenPGP emulator ({EMU_PACKAGE})")


def _ports_free(port: int) -> bool:
    for p in (port, port + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("0.0.0.0", p))  # vpcd binds 0.0.0.0
            except OSError:
                return False
    return True


def pick_port(rng: random.Random | None = None) -> int:
    """An even port P with P and P+1 free, away from the system vpcd (35963/35964)."""
    rng = rng or random.Random()
    for _ in range(200):
        port = rng.randrange(40000, 60000, 2)
        if _ports_free(port):
            return port
    raise BedError("no free TCP port pair for vpcd")


def _wait(predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise BedError(f"timeout after {timeout:.1f}s waiting for {what}")
        time.sleep(step)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0): look at its state.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@dataclass(frozen=True)
class ApduRecord:
    """One command APDU as the card received it (header and total size; never the data)."""

    cla: int
    ins: int
    p1: int
    p2: int
    size: int

    @classmethod
    def parse(cls, line: str) -> ApduRecord:
        *header, size = line.split()
        cla, ins, p1, p2 = (int(part, 16) for part in header)
        return cls(cla, ins, p1, p2, int(size))

    @property
    def header(self) -> str:
        return f"{self.cla:02X} {self.ins:02X} {self.p1:02X} {self.p2:02X}"


@dataclass
class _Process:
    """A bed process, known by pid file so that a later CLI call can stop it too."""

    name: str
    pid_file: Path
    marker: str  # a string of its command line: never signal a recycled pid
    popen: subprocess.Popen[bytes] | None = None

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self.marker in _cmdline(pid) and _pid_alive(pid) else None

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return self.pid() is not None

    def stop(self, timeout: float = 5.0) -> None:
        pid = self.popen.pid if self.popen is not None else self.pid()
        if pid is not None and self.alive():
            os.kill(pid, signal.SIGTERM)
            try:
                self._reap(pid, timeout)
            except BedError:
                os.kill(pid, signal.SIGKILL)
                self._reap(pid, timeout)
        self.popen = None
        self.pid_file.unlink(missing_ok=True)

    def _reap(self, pid: int, timeout: float) -> None:
        if self.popen is not None:
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired as exc:
                raise BedError(f"{self.name} did not exit") from exc
        else:
            _wait(lambda: not _pid_alive(pid), timeout, f"{self.name} to exit")


@dataclass
class PcscBed:
    """A private pcscd with vpcd readers, and emulated OpenPGP cards inserted on demand."""

    directory: Path = DEFAULT_DIR
    port: int | None = None
    emu_python: Path = field(default_factory=emulator_python)
    serial: str = "00000001"
    _image_counter: int = 0
    _procs: dict[str, _Process] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        state = self._load_state()
        if self.port is None and state:
            self.port = int(str(state["port"]))

    # -- names ------------------------------------------------------------------

    @property
    def socket_path(self) -> Path:
        return self.directory / "pcscd.comm"

    @property
    def env(self) -> dict[str, str]:
        """Environment for a client process (pyscard, opensc-tool, pkcs11-tool)."""
        return {"PCSCLITE_CSOCK_NAME": str(self.socket_path)}

    def reader_name(self, slot: int = 0) -> str:
        return f"Virtual PCD 00 {slot:02d}"

    @property
    def reader_names(self) -> tuple[str, ...]:
        return tuple(self.reader_name(i) for i in range(READERS_PER_ENTRY))

    def _pcscd(self) -> _Process:
        return self._proc("pcscd", str(self.directory / "conf"))

    def _card(self, slot: int) -> _Process:
        return self._proc(f"card{slot}", str(BRIDGE))

    def _proc(self, name: str, marker: str) -> _Process:
        # Cached so that the Popen object (and its exit status) stays with the bed.
        if name not in self._procs:
            self._procs[name] = _Process(name, self.directory / f"{name}.pid", marker)
        return self._procs[name]

    # -- daemon -----------------------------------------------------------------

    def start(self, timeout: float = 10.0, export_env: bool = True) -> PcscBed:
        """Start pcscd (if not running) and wait for its readers; stop all on failure."""
        if export_env:
            os.environ["PCSCLITE_CSOCK_NAME"] = str(self.socket_path)
        if self._pcscd().alive():
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            self._start_pcscd(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_pcscd(self, timeout: float) -> None:
        for _attempt in range(3):
            if self.port is None or not _ports_free(self.port):
                self.port = pick_port()
            self._write_conf()
            proc = self._spawn_pcscd()
            try:
                listed = functools.partial(self._readers_listed, proc)
                _wait(listed, timeout, "the vpcd readers")
            except BedError as exc:
                proc.stop()
                log = self._log_tail("pcscd.log")
                if "Address already in use" in log:
                    self.port = None  # lost a race for the port pair: pick another
                    continue
                raise BedError("pcscd did not list its readers:\n" + log) from exc
            self._save_state()
            return
        raise BedError("vpcd ports kept clashing:\n" + self._log_tail("pcscd.log"))

    def _write_conf(self) -> None:
        conf = self.directory / "conf"
        conf.mkdir(exist_ok=True)
        assert self.port is not None
        channel = f"0x{self.port:X}"
        (conf / "vpcd").write_text(
            'FRIENDLYNAME "Virtual PCD"\n'
            f"DEVICENAME   /dev/null:{channel}\n"
            f"LIBPATH      {VPCD_DRIVER}\n"
            f"CHANNELID    {channel}\n"
        )

    def _spawn_pcscd(self) -> _Process:
        proc = self._pcscd()
        args = [sys.executable, "-c", _SOCKACT, str(self.socket_path),
                "-f", "-c", str(self.directory / "conf")]
        with open(self.directory / "pcscd.log", "wb") as log:
            proc.popen = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C in the test run must not kill it mid-test
            )
        proc.pid_file.write_text(str(proc.popen.pid))
        return proc

    def _readers_listed(self, proc: _Process) -> bool:
        if not proc.alive():
            raise BedError("pcscd exited:\n" + self._log_tail("pcscd.log"))
        return set(self.reader_names) <= set(list_readers())

    def restart_pcscd(self, timeout: float = 10.0) -> None:
        """Stop and start pcscd on the same socket and ports; cards are re-inserted."""
        slots = [s for s in range(READERS_PER_ENTRY) if self._card(s).alive()]
        for slot in slots:
            self._card(slot).stop()
        self._pcscd().stop()
        self._start_pcscd(timeout)
        for slot in slots:
            self.insert_card(slot, image=self._current_image(slot))

    def stop(self) -> None:
        """Stop the cards, then pcscd; safe to call twice or after a failed start."""
        for slot in range(READERS_PER_ENTRY):
            self._card(slot).stop()
        self._pcscd().stop()
        self.socket_path.unlink(missing_ok=True)
        (self.directory / "bed.json").unlink(missing_ok=True)

    def running(self) -> bool:
        return self._pcscd().alive()

    def lifeline(self) -> Lifeline:
        """Stop the bed (cards, then pcscd) when this process ends, however it ends (see ``lifeline``)."""
        return Lifeline([sys.executable, "-m", "testbed.pcsc_bed", "stop", "--dir", str(self.directory)])

    # -- cards ------------------------------------------------------------------

    def new_image(self, slot: int = 0, golden: Path | None = None) -> Path:
        """A fresh card image path (copied from ``golden`` if given; else a blank card)."""
        cards = self.directory / "cards"
        cards.mkdir(parents=True, exist_ok=True)
        self._image_counter += 1
        image = cards / f"slot{slot}-{os.getpid()}-{self._image_counter}.fs"
        for old in cards.glob(image.name + "*"):
            old.unlink()
        if golden is not None:
            shutil.copyfile(golden, image)
        return image

    def insert_card(
        self, slot: int = 0, *, image: Path | None = None, golden: Path | None = None,
        timeout: float = 15.0,
    ) -> Path:
        """Start the card process for reader ``slot`` and wait until pcscd sees the card.

        ``image`` keeps the card state across removal and reinsertion; without it a fresh
        image is made (blank, or a copy of ``golden``).
        """
        if not self.running():
            raise BedError("pcscd is not running")
        card = self._card(slot)
        if card.alive():
            raise BedError(f"reader {slot} already holds a card")
        image = image or self.new_image(slot, golden)
        # After a kill pcscd may still show the old card until its next poll: wait for
        # EMPTY first, or the old ATR would pass for the new card.
        name = self.reader_name(slot)
        _wait(lambda: card_atr(name) is None, timeout, f"reader {slot} to be empty")
        self._spawn_card(card, slot, image)
        try:
            _wait(lambda: self._card_present(card, slot), timeout, f"a card in reader {slot}")
        except BaseException:
            card.stop()
            raise
        return image

    def _spawn_card(self, card: _Process, slot: int, image: Path) -> None:
        assert self.port is not None
        args = [str(self.emu_python), str(BRIDGE), "--port", str(self.port + slot),
                "--db", str(image), "--serial", self.serial,
                "--apdu-log", str(self.apdu_log_path(slot))]
        with open(self.directory / f"card{slot}.log", "wb") as log:
            card.popen = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        card.pid_file.write_text(str(card.popen.pid))
        (self.directory / f"card{slot}.image").write_text(str(image))

    def _current_image(self, slot: int) -> Path | None:
        try:
            return Path((self.directory / f"card{slot}.image").read_text())
        except OSError:
            return None

    def _card_present(self, card: _Process, slot: int) -> bool:
        if not card.alive():
            raise BedError(f"card process {slot} exited:\n" + self._log_tail(f"card{slot}.log"))
        atr = card_atr(self.reader_name(slot))
        return atr is not None and atr.startswith(OPENPGP_ATR_PREFIX)

    def remove_card(self, slot: int = 0, timeout: float = 10.0, wait: bool = True) -> None:
        """Stop the card process; with ``wait``, until pcscd reports the reader empty."""
        self._card(slot).stop()
        if wait and self.running():
            # Right after the kill pcscd can still report the old ATR until its next poll.
            name = self.reader_name(slot)
            _wait(lambda: card_atr(name) is None, timeout, f"reader {slot} to be empty")

    def card_inserted(self, slot: int = 0) -> bool:
        return self._card(slot).alive()

    # -- APDU accounting ---------------------------------------------------------------

    def apdu_log_path(self, slot: int = 0) -> Path:
        return self.directory / f"card{slot}.apdu"

    def apdus(self, slot: int = 0, since: int = 0) -> list[ApduRecord]:
        """The command APDUs card ``slot`` received, from the ``since``-th on (a mark)."""
        try:
            lines = self.apdu_log_path(slot).read_text().splitlines()
        except FileNotFoundError:
            return []
        return [ApduRecord.parse(line) for line in lines[since:] if line.strip()]

    def apdu_mark(self, slot: int = 0) -> int:
        """How many command APDUs card ``slot`` has received so far (pass to ``apdus``)."""
        return len(self.apdus(slot))

    # -- state and logs -------------------------------------------------------------

    def _save_state(self) -> None:
        state = {"port": self.port, "socket": str(self.socket_path)}
        (self.directory / "bed.json").write_text(json.dumps(state))

    def _load_state(self) -> dict[str, object]:
        try:
            data = json.loads((self.directory / "bed.json").read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _log_tail(self, name: str, lines: int = 30) -> str:
        try:
            text = (self.directory / name).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def status(self) -> dict[str, object]:
        readers = list_readers() if self.running() else []
        return {
            "directory": str(self.directory),
            "pcscd": self.running(),
            "port": self.port,
            "socket": str(self.socket_path),
            "readers": {r: (card_atr(r) or b"").hex() or None for r in readers},
            "cards": {s: self._card(s).alive() for s in range(READERS_PER_ENTRY)},
        }


# -- PC/SC probes (pyscard, through PCSCLITE_CSOCK_NAME) -----------------------------


def list_readers() -> list[str]:
    from smartcard import scard

    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        return []
    try:
        hr, readers = scard.SCardListReaders(ctx, [])
        return list(readers) if hr == scard.SCARD_S_SUCCESS else []
    finally:
        scard.SCardReleaseContext(ctx)


def card_atr(reader: str) -> bytes | None:
    """The ATR of the card in ``reader``, or None when the reader is empty or unknown."""
    from smartcard import scard

    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        return None
    try:
        hr, states = scard.SCardGetStatusChange(ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        if hr != scard.SCARD_S_SUCCESS:
            return None
        _, event, atr = states[0]
        return bytes(atr) if event & scard.SCARD_STATE_PRESENT and atr else None
    finally:
        scard.SCardReleaseContext(ctx)


# -- OpenSC on the bed --------------------------------------------------------------


@dataclass(frozen=True)
class OpenScBed:
    """OpenSC's PKCS#11 module over the emulated card: load ``module`` with ``env`` applied.

    OpenSC shows two tokens per OpenPGP card; the signature key is only on the "(sig)"
    one. Select tokens by these labels, never by slot index (empty readers count too).
    """

    module: Path
    env: dict[str, str]
    user_token_label: str = "OpenPGP card (User PIN)"
    sign_token_label: str = "OpenPGP card (User PIN (sig))"
    user_pin: str = "123456"
    so_pin: str = "12345678"


def opensc_env(bed: PcscBed) -> dict[str, str]:
    """Environment for opensc-pkcs11.so on the bed: private socket, openpgp driver only."""
    conf = bed.directory / "opensc.conf"
    # Probing every other card driver costs hundreds of APDUs per process start.
    conf.write_text("app default {\n  card_drivers = openpgp;\n}\n")
    return {**bed.env, "OPENSC_CONF": str(conf)}


# -- emulator venv --------------------------------------------------------------------


def setup_emulator_venv(target: Path | None = None) -> Path:
    """Create the emulator venv and install the OpenPGP card emulator into it."""
    target = target or emulator_python().parent.parent
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True, timeout=300)
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "-q", EMU_PACKAGE]
    subprocess.run(pip, check=True, timeout=600)
    return target / "bin" / "python"


# -- command line -----------------------------------------------------------------------


def _cli(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m testbed.pcsc_bed", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["start", "stop", "status", "insert", "remove",
                                        "restart-pcscd", "setup-emu"])
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--port", type=int, help="vpcd port pair P, P+1 (default: a free pair)")
    ap.add_argument("--slot", type=int, default=0, help="reader index for insert/remove")
    ap.add_argument("--golden", type=Path, help="card image to copy for insert/start")
    ap.add_argument("--image", type=Path, help="card image to reuse as is for insert")
    ap.add_argument("--no-card", action="store_true", help="start: leave reader 0 empty")
    args = ap.parse_args(argv)
    if args.command == "setup-emu":
        print(setup_emulator_venv())
        return 0
    bed = PcscBed(directory=args.dir, port=args.port)
    try:
        return _run_command(bed, args)
    except BedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run_command(bed: PcscBed, args: argparse.Namespace) -> int:
    if args.command == "start":
        check_prerequisites()
        bed.start()
        if not args.no_card and not bed.card_inserted(0):
            try:
                print("card image:", bed.insert_card(0, golden=args.golden))
            except BaseException:
                bed.stop()  # all or nothing: no half bed left behind
                raise
        print(f"export PCSCLITE_CSOCK_NAME={bed.socket_path}")
        print(f"export OPENSC_CONF={opensc_env(bed)['OPENSC_CONF']}")
    elif args.command == "stop":
        bed.stop()
    elif args.command == "insert":
        bed.start()
        print("card image:", bed.insert_card(args.slot, image=args.image, golden=args.golden))
    elif args.command == "remove":
        bed.start()
        bed.remove_card(args.slot)
    elif args.command == "restart-pcscd":
        bed.start()
        bed.restart_pcscd()
    else:
        if bed.running():
            bed.start()  # only points this process at the bed's socket
        print(json.dumps(bed.status(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
