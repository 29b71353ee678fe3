"""Card benchmark: APDUs and milliseconds per operation, sitoken's card driver beside OpenSC, one card.

On a real reader each command APDU costs milliseconds, so the count of round trips is the
speed a holder feels. sitoken's APDUs are counted on its connection (every command it
sends, GET RESPONSE included); OpenSC's from its own debug log ("Outgoing APDU" lines of
``pkcs11-tool`` run with ``OPENSC_DEBUG=3``), once per operation, in a run apart from the
timed ones so that logging does not slow them. Both work on any card, not only the bed's.
OpenSC's log is a lower bound: on the test bed's card it shows 29 of the 30 APDUs of a
``pkcs11-tool --sign`` (one of its four VERIFY 81 is not logged).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import InvalidInput, TokenError
from .pcsc.openpgp import OpenPgpCard
from .pcsc.transport import PcscConnection
from .pin import Pin, PinRole

MESSAGE = bytes(range(64))
OPENSC_SIGN_TOKEN = "OpenPGP card (User PIN (sig))"  # OpenSC's token holding the signature key
_PIN_VAR = "SITOKEN_BENCH_PIN"  # pkcs11-tool reads the PIN from it (--pin env:VAR), never argv

Progress = Callable[[str], None]


@dataclass(frozen=True)
class CardBenchRow:
    """One operation by one client: APDUs and milliseconds per operation."""

    operation: str
    client: str  # sitoken (the driver, in this process) or opensc (a pkcs11-tool process)
    apdus: float
    ms: float  # median over the runs
    runs: int

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "ms": round(self.ms, 2), "apdus": round(self.apdus, 2)}


@dataclass(frozen=True)
class CardBenchReport:
    reader: str
    rows: tuple[CardBenchRow, ...]
    opensc: str | None  # the module measured, or None when OpenSC was not found
    apdus_sent: int  # the command APDUs counted over all runs (OpenSC's from its log: a lower bound)

    def to_dict(self) -> dict[str, object]:
        return {"reader": self.reader, "opensc": self.opensc, "apdus_sent": self.apdus_sent,
                "rows": [r.to_dict() for r in self.rows]}


class CountingConnection:
    """A connection that counts the command APDUs it sends; everything else is the inner one's."""

    def __init__(self, inner: PcscConnection) -> None:
        self.inner = inner
        self.count = 0

    def send_and_receive(self, apdu: bytes | bytearray) -> tuple[bytes, int]:
        self.count += 1
        return self.inner.send_and_receive(apdu)

    def __getattr__(self, name: str) -> object:  # atr, check_present, close
        return getattr(self.inner, name)


@dataclass
class _Sitoken:
    """sitoken's side: each run opens the card afresh, as one CLI process does."""

    reader: str
    pin: Pin
    sent: int = 0
    connection: CountingConnection | None = None  # the run's, while it runs

    def run(self, work: Callable[[OpenPgpCard], int]) -> tuple[int, int, float]:
        """(APDUs, operations, seconds) of one session doing ``work`` (which says how many it did)."""
        connection = self.connection = CountingConnection(PcscConnection(self.reader))
        start = time.perf_counter()
        try:
            card = OpenPgpCard(connection, self.reader)
            try:
                done = work(card)
            finally:
                card.close()
        finally:
            connection.inner.close()
        self.sent += connection.count
        return connection.count, done, time.perf_counter() - start

    def pin_status(self, card: OpenPgpCard) -> int:
        card.pin_status(PinRole.USER)
        card.pin_status(PinRole.SO)
        return 1

    def sign_once(self, card: OpenPgpCard) -> int:
        card.login(self.pin)
        card.find_key("sig")
        card.sign("sig", MESSAGE)
        return 1


def _row(operation: str, client: str, samples: Sequence[tuple[int, int, float]]) -> CardBenchRow:
    apdus = statistics.median(a / n for a, n, _ in samples)
    ms = statistics.median(s * 1000 / n for _, n, s in samples)
    return CardBenchRow(operation, client, apdus, ms, len(samples))


def _further_signatures(side: _Sitoken, signatures: int) -> CardBenchRow:
    counted: list[tuple[int, int, float]] = []

    def work(card: OpenPgpCard) -> int:
        side.sign_once(card)  # the session's first signature reads and verifies: not steady state
        assert side.connection is not None
        before, start = side.connection.count, time.perf_counter()
        for _ in range(signatures):
            card.sign("sig", MESSAGE)
        counted.append((side.connection.count - before, signatures, time.perf_counter() - start))
        return 1

    side.run(work)
    return _row("each further signature", "sitoken", counted)


class _OpenSc:
    """OpenSC's side: one pkcs11-tool process per operation, on the same card."""

    def __init__(self, module: str, pin: Pin, workdir: Path) -> None:
        self.module = module
        self.env = {**os.environ, _PIN_VAR: pin.reveal().decode()}
        self.message = workdir / "message"
        self.message.write_bytes(MESSAGE)
        self.signature = workdir / "signature"
        self.sent = 0

    def commands(self) -> dict[str, list[str]]:
        tool = ["pkcs11-tool", "--module", self.module]
        return {
            "pin status": [*tool, "-L"],
            "one sign process": [*tool, "--token-label", OPENSC_SIGN_TOKEN, "--login", "--pin", f"env:{_PIN_VAR}",
                                 "--sign", "--mechanism", "SHA256-RSA-PKCS", "--id", "01",
                                 "-i", str(self.message), "-o", str(self.signature)],
        }

    def measure(self, operation: str, rounds: int) -> CardBenchRow:
        args = self.commands()[operation]
        apdus = self._count(args)
        seconds = [self._run(args, self.env)[1] for _ in range(rounds)]
        self.sent += apdus * (rounds + 1)
        return _row(operation, "opensc", [(apdus, 1, s) for s in seconds])

    def _count(self, args: list[str]) -> int:
        stderr, _ = self._run(args, {**self.env, "OPENSC_DEBUG": "3"})
        return sum(1 for line in stderr.splitlines() if "Outgoing APDU" in line)

    @staticmethod
    def _run(args: list[str], env: dict[str, str]) -> tuple[str, float]:
        start = time.perf_counter()
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise TokenError(f"{args[0]} {args[3] if len(args) > 3 else ''} failed (exit {done.returncode}): "
                             f"{done.stderr.strip().splitlines()[-1:] or ''}")
        return done.stderr, seconds


def run_card_bench(
    reader: str, pin: Pin, *, rounds: int = 5, signatures: int = 20, opensc_module: str | None = None,
    progress: Progress | None = None,
) -> CardBenchReport:
    """Measure sitoken and (when given) OpenSC on the card in ``reader``; needs a key in the sig slot."""
    if rounds < 1 or signatures < 1:
        raise InvalidInput("rounds and signatures are at least 1")
    say = progress or (lambda _: None)
    side = _Sitoken(reader, pin)
    say("sitoken: pin status")
    rows = [_row("pin status", "sitoken", [side.run(side.pin_status) for _ in range(rounds)])]
    say("sitoken: one sign process")  # the first login also refuses a wrong PIN before OpenSC spends a try
    rows.append(_row("one sign process", "sitoken", [side.run(side.sign_once) for _ in range(rounds)]))
    say(f"sitoken: {signatures} further signatures")
    rows.append(_further_signatures(side, signatures))
    sent = side.sent
    if opensc_module:
        with tempfile.TemporaryDirectory(prefix="sitoken-card-bench-") as tmp:
            opensc = _OpenSc(opensc_module, pin, Path(tmp))
            for operation in ("pin status", "one sign process"):
                say(f"opensc: {operation}")
                rows.append(opensc.measure(operation, rounds))
            sent += opensc.sent
    return CardBenchReport(reader, tuple(rows), opensc_module, sent)


def format_card_report(report: CardBenchReport) -> str:
    lines = [f"card in {report.reader!r}; OpenSC: {report.opensc or 'not found'}",
             f"{'operation':<24} {'client':<8} {'APDUs':>6} {'ms (median)':>12} {'runs':>5}"]
    for r in report.rows:
        lines.append(f"{r.operation:<24} {r.client:<8} {r.apdus:>6.1f} {r.ms:>12.2f} {r.runs:>5}")
    lines.append("sitoken: the driver in this process (a fresh connection per run); "
                 "opensc: one pkcs11-tool process per run, its start included; its APDUs from its debug log "
                 "(a lower bound).")
    return "\n".join(lines)
