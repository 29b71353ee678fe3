"""Signing benchmark: Python per-call vs native batch vs the bare C loop, by threads and load."""

from __future__ import annotations

import itertools
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ._native_loader import binding, native_status
from .algorithms import KeyType, preparer
from .errors import NotSupported, SitokenError
from .pin import Pin
from .pkcs11.mechanisms import KEYGEN
from .signing.batch import BatchKey, batch_key_for, function_list_for, sign_many

if TYPE_CHECKING:
    from .pkcs11 import Pkcs11Token

#: What a SoftHSM token generates: the key types of the PKCS#11 specification (no vendor SM2).
SPEC_KEY_TYPES = tuple(KEYGEN)
MESSAGE = bytes(range(64))  # the baseline's 64-byte message
PATHS = ("python", "native", "reference")
#: Each cell is measured in this many slices, the cells of a key type taking turns (the order
#: rotating each round): a machine whose speed changes during the run slows every cell alike,
#: and ratios are medians of the per-round ratios.
ROUNDS = 5
_BENCH_SO_PIN, _BENCH_USER_PIN = "bench-so-2468", "bench7pin5"

Progress = Callable[[str], None]


def check_key_types(key_types: Sequence[KeyType]) -> tuple[KeyType, ...]:
    """The key types a temporary SoftHSM token can hold; refuses the others before anything runs.

    SoftHSM implements the PKCS#11 specification's key types only: SM2 is a vendor algorithm
    there, and the batch and C paths measured here are PKCS#11 ones, so an SKF token cannot
    stand in (``softskf-bench`` times SM2 signatures on the software SKF token instead).
    """
    foreign = [kt.value for kt in key_types if kt not in SPEC_KEY_TYPES]
    if foreign:
        raise NotSupported(
            f"the benchmark signs on a temporary SoftHSM token, which has no {', '.join(foreign)} keys "
            f"(SoftHSM implements PKCS#11's key types only: {', '.join(k.value for k in SPEC_KEY_TYPES)}); "
            "for SM2 on the software SKF token see softskf-bench in docs/skf.md")
    return tuple(key_types)


@dataclass(frozen=True)
class BenchCell:
    """One measurement: signatures over wall time for a path, thread count and load."""

    key_type: str
    path: str  # python (per-call binding), native (batch), reference (bare C loop)
    threads: int
    under_load: bool
    signatures: int
    seconds: float
    #: Process CPU time over the cell (the busy thread's included under load).
    cpu_seconds: float = 0.0
    #: Signatures per second of each round (see ROUNDS).
    rounds: tuple[float, ...] = ()

    @property
    def rate(self) -> float:
        return self.signatures / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us(self) -> float | None:
        """CPU microseconds per signature: what the path costs, whatever else the machine runs."""
        return self.cpu_seconds / self.signatures * 1e6 if self.signatures and self.cpu_seconds else None

    def to_dict(self) -> dict[str, object]:
        cpu = self.cpu_us
        return {**asdict(self), "rounds": [round(r, 1) for r in self.rounds], "rate": round(self.rate, 1),
                "cpu_us_per_signature": None if cpu is None else round(cpu, 1)}


@dataclass(frozen=True)
class BenchRow:
    """All cells of one key type, with the ratios the native path is judged by."""

    key_type: str
    mechanism: str
    cells: tuple[BenchCell, ...]
    ratios: dict[str, float | None] = field(default_factory=dict)

    def cell(self, path: str, threads: int, under_load: bool = False) -> BenchCell | None:
        for c in self.cells:
            if (c.path, c.threads, c.under_load) == (path, threads, under_load):
                return c
        return None

    def rate(self, path: str, threads: int, under_load: bool = False) -> float | None:
        found = self.cell(path, threads, under_load)
        return None if found is None else found.rate

    def to_dict(self) -> dict[str, object]:
        return {
            "key_type": self.key_type,
            "mechanism": self.mechanism,
            "cells": [c.to_dict() for c in self.cells],
            "ratios": self.ratios,
        }


@dataclass(frozen=True)
class BenchReport:
    """A whole run: the rows, and what they were measured on."""

    rows: tuple[BenchRow, ...]
    seconds_per_cell: float
    threads: tuple[int, ...]
    cpu_count: int
    native: str
    module: str
    load_average: tuple[float, float] = (0.0, 0.0)  # 1-min load before and after the run

    def to_dict(self) -> dict[str, object]:
        return {
            "load_average": list(self.load_average),
            "seconds_per_cell": self.seconds_per_cell,
            "threads": list(self.threads),
            "cpu_count": self.cpu_count,
            "native": self.native,
            "module": self.module,
            "rows": [r.to_dict() for r in self.rows],
        }


# -- load and timing ---------------------------------------------------------------------


@contextmanager
def cpu_load(active: bool) -> Iterator[None]:
    """A CPU-bound pure-Python thread running alongside, as a busy application has."""
    if not active:
        yield
        return
    stop = threading.Event()

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    worker = threading.Thread(target=spin, daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join()


def _until(deadline: float) -> Iterator[bytes]:
    """The message, again and again, until the deadline (checked as inputs are pulled)."""
    return itertools.takewhile(lambda _: time.perf_counter() < deadline, itertools.repeat(MESSAGE))


def _count_stream(key: BatchKey, seconds: float, *, threads: int, native: bool) -> int:
    deadline = time.perf_counter() + seconds
    return sum(1 for _ in sign_many(key, _until(deadline), threads=threads, native=native))


def measure_python(key: BatchKey, seconds: float, threads: int) -> tuple[int, float]:
    """T Python threads, each on its own session, one C_SignInit + C_Sign pair per input.

    One thread is the calling thread, as for the native path and the C loop.
    """
    started = time.perf_counter()
    if threads == 1:
        return _count_stream(key, seconds, threads=1, native=False), time.perf_counter() - started
    counts = [0] * threads

    def worker(i: int) -> None:
        counts[i] = _count_stream(key, seconds, threads=1, native=False)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts), time.perf_counter() - started


def measure_native(key: BatchKey, seconds: float, threads: int) -> tuple[int, float]:
    """sign_many on the extension: host hashing, chunks, one C call per chunk, T C threads."""
    started = time.perf_counter()
    count = _count_stream(key, seconds, threads=threads, native=True)
    return count, time.perf_counter() - started


def measure_reference(key: BatchKey, seconds: float, rate: float | None = None) -> tuple[int, float]:
    """The bare C_SignInit + C_Sign loop on one session: the ceiling for this module.

    One C call of ``seconds`` at ``rate`` signatures/s (the last round's); without a rate, a
    short probe first, which the cell does not count.
    """
    mechanism = key.key_type.default_mechanism
    ck = key.token.mechanism_for(key.key_type, mechanism, "bench")
    data = preparer(mechanism)(MESSAGE)
    with key.token.open_session() as session:
        if rate is None:
            n = 16
            while True:
                elapsed = _reference_call(key, session.handle, ck.ckm, ck.spec.pss, data, n)
                if elapsed >= 0.1 or n >= 1 << 24:
                    break
                n *= 4
            rate = n / max(elapsed, 1e-6)
        n = max(1, int(rate * seconds))
        return n, _reference_call(key, session.handle, ck.ckm, ck.spec.pss, data, n)


def _reference_call(
    key: BatchKey, session: int, ckm: int, pss: tuple[int, int, int] | None, data: bytes, n: int
) -> float:
    found = binding()
    if found is None:
        raise SitokenError(f"the reference loop needs the extension: {native_status().reason}")
    ffi, lib = found
    param = ffi.new("CK_RSA_PKCS_PSS_PARAMS *", pss) if pss else ffi.NULL
    param_len = ffi.sizeof("CK_RSA_PKCS_PSS_PARAMS") if pss else 0
    out, out_len = ffi.new("unsigned char[]", 1024), ffi.new("size_t *")
    err = ffi.new("sitoken_batch_error *")
    fl = function_list_for(ffi, key.token)
    started = time.perf_counter()
    status = lib.sitoken_bench_reference(fl, session, key.handle, ckm, param, param_len, data,
                                         len(data), n, out, 1024, out_len, err)
    elapsed = time.perf_counter() - started
    if status != lib.SITOKEN_OK:
        raise SitokenError(f"reference loop failed at {err.index}: status {err.status}, 0x{err.rv:X}")
    return elapsed


# -- the run -------------------------------------------------------------------------------


Plan = tuple[str, int, bool]  # path, threads, under load


@dataclass
class _Tally:
    """One cell's rounds so far."""

    signatures: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    rounds: list[float] = field(default_factory=list)


def _cells_for(
    key: BatchKey, seconds: float, threads: Sequence[int], native: bool, progress: Progress,
    rounds: int = ROUNDS,
) -> list[BenchCell]:
    plan: list[Plan] = []
    for path in PATHS if native else ("python",):
        for t in (1,) if path == "reference" else threads:
            plan += [(path, t, False), (path, t, True)]
    tallies = {p: _Tally() for p in plan}
    reference_rate: float | None = None
    if native:
        # The C loop's probe (to size its calls) happens here, outside every cell's time and CPU.
        count, elapsed = measure_reference(key, min(0.05, seconds / rounds))
        reference_rate = count / max(elapsed, 1e-6)
    for r in range(rounds):
        progress(f"{key.key_type.value}: round {r + 1} of {rounds}")
        for path, t, loaded in plan[r % len(plan):] + plan[:r % len(plan)]:
            with cpu_load(loaded):
                cpu = time.process_time()
                if path == "python":
                    count, elapsed = measure_python(key, seconds / rounds, t)
                elif path == "native":
                    count, elapsed = measure_native(key, seconds / rounds, t)
                else:
                    count, elapsed = measure_reference(key, seconds / rounds, reference_rate)
                    reference_rate = count / max(elapsed, 1e-6)
                cpu = time.process_time() - cpu
            tally = tallies[(path, t, loaded)]
            tally.signatures += count
            tally.seconds += elapsed
            tally.cpu += cpu
            tally.rounds.append(count / elapsed if elapsed > 0 else 0.0)
    return [BenchCell(key.key_type.value, path, t, loaded, x.signatures, x.seconds, x.cpu, tuple(x.rounds))
            for (path, t, loaded), x in tallies.items()]


def _ratio(a: BenchCell | None, b: BenchCell | None) -> float | None:
    """a/b: the median of the per-round ratios (rounds side by side), else of the totals."""
    if a is None or b is None:
        return None
    if a.rounds and len(a.rounds) == len(b.rounds) and all(b.rounds):
        return round(statistics.median(x / y for x, y in zip(a.rounds, b.rounds, strict=True)), 3)
    return round(a.rate / b.rate, 3) if b.rate else None


def _cpu_ratio(a: BenchCell | None, b: BenchCell | None) -> float | None:
    """CPU per signature of b over a's: above 1 when a costs less per signature."""
    if a is None or b is None or a.cpu_us is None or b.cpu_us is None:
        return None
    return round(b.cpu_us / a.cpu_us, 3)


def _row(key: BatchKey, cells: list[BenchCell], threads: Sequence[int]) -> BenchRow:
    row = BenchRow(key.key_type.value, key.key_type.default_mechanism.value, tuple(cells))
    top = max(threads)
    c = row.cell
    row.ratios.update({
        "native/python 1T": _ratio(c("native", 1), c("python", 1)),
        "native/python 1T under load": _ratio(c("native", 1, True), c("python", 1, True)),
        f"native {top}T/1T": _ratio(c("native", top), c("native", 1)),
        f"python {top}T/1T": _ratio(c("python", top), c("python", 1)),
        "native under load/solo 1T": _ratio(c("native", 1, True), c("native", 1)),
        "python under load/solo 1T": _ratio(c("python", 1, True), c("python", 1)),
        "native 1T/reference": _ratio(c("native", 1), c("reference", 1)),
        # The same in CPU time per signature: what each path costs, which a busy machine moves
        # far less than it moves rates (a slower machine slows both; steal time is not counted).
        "native 1T/reference by CPU": _cpu_ratio(c("native", 1), c("reference", 1)),
        "python 1T/reference by CPU": _cpu_ratio(c("python", 1), c("reference", 1)),
        # The bare C loop never holds the GIL: its drop under load is the CPU the busy thread
        # takes, which tells a GIL effect from a busy machine.
        "reference under load/solo 1T": _ratio(c("reference", 1, True), c("reference", 1)),
    })
    return row


def run_bench(
    *,
    seconds: float = 1.0,
    key_types: Sequence[KeyType] | None = None,
    threads: Sequence[int] | None = None,
    keys: dict[KeyType, BatchKey] | None = None,
    progress: Progress | None = None,
) -> BenchReport:
    """Measure every cell; creates a SoftHSM token in a temporary store unless ``keys`` is given.

    About ``seconds`` per cell, 10 cells per key type with two thread counts.
    """
    key_types = tuple(key_types or SPEC_KEY_TYPES)
    if keys is None:
        check_key_types(key_types)
    cpus = os.cpu_count() or 1
    threads = tuple(sorted(set(threads or (1, cpus))))
    progress = progress or (lambda _: None)
    status = native_status()
    load_before = os.getloadavg()[0]
    with _bench_keys(keys, key_types, progress) as ready:
        rows = tuple(
            _row(ready[kt], _cells_for(ready[kt], seconds, threads, status.active, progress),
                 threads)
            for kt in key_types
        )
        module = ready[key_types[0]].module_path
    native = f"active ({status.version})" if status.active else f"off: {status.reason}"
    load = (load_before, os.getloadavg()[0])
    return BenchReport(rows, seconds, threads, cpus, native, module, load)


@contextmanager
def _bench_keys(
    keys: dict[KeyType, BatchKey] | None, key_types: Sequence[KeyType], progress: Progress
) -> Iterator[dict[KeyType, BatchKey]]:
    if keys is not None:
        yield keys
        return
    token = None
    with bench_store("sitoken-bench-") as store:
        try:
            token = _make_bench_token(store, key_types, progress)
            # The token object holds the session that keeps the user logged in: keep it open.
            yield {kt: batch_key_for(token, kt.value) for kt in key_types}
        finally:
            if token is not None:
                token.close()


@contextmanager
def bench_store(prefix: str) -> Iterator[Path]:
    """A temporary SoftHSM store for benchmark tokens, removed afterwards.

    Making a bench token points SOFTHSM2_CONF at the store; the store goes away at the end, so
    the caller's setting comes back (child processes, or a module loaded later in this one,
    would otherwise look for tokens in a directory that no longer exists).
    """
    store = Path(tempfile.mkdtemp(prefix=prefix))
    previous = os.environ.get("SOFTHSM2_CONF")
    try:
        yield store
    finally:
        shutil.rmtree(store, ignore_errors=True)
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous


def _make_bench_token(
    store: Path, key_types: Sequence[KeyType], progress: Progress, label_suffix: str = ""
) -> Pkcs11Token:
    from .pkcs11 import Module, Pkcs11Token, free_slot
    from .pkcs11.softhsm import SimStore, softhsm_module

    path = softhsm_module()
    if path is None:
        raise SitokenError("the benchmark needs SoftHSM (Debian package softhsm2)")
    # Only effective before SoftHSM is loaded in this process (the CLI's case); otherwise
    # the token goes into the store already in use.
    SimStore(store).activate()
    module = Module.load(path)
    token = Pkcs11Token(module, free_slot(module))
    progress("creating the benchmark token")
    token.init_token(Pin(_BENCH_SO_PIN), f"sitoken-bench-{os.getpid()}{label_suffix}", force=True)
    token.init_pin(Pin(_BENCH_SO_PIN), Pin(_BENCH_USER_PIN))
    token.login(Pin(_BENCH_USER_PIN))
    for kt in key_types:
        progress(f"generating {kt.value}")
        token.generate_key(kt, kt.value)
    return token


def format_report(report: BenchReport) -> str:
    """The report as a plain-text table (signatures/s), then the ratios."""
    heads = [(p, t, load) for p in PATHS for t in report.threads for load in (False, True)
             if not (p == "reference" and t != 1)]
    titles = [f"{p} {t}T{' load' if load else ''}" for p, t, load in heads]
    solo = [h for h in heads if not h[2]]
    lines = [
        f"signatures/s, {report.seconds_per_cell:g} s per cell, {report.cpu_count} CPUs, "
        f"native {report.native}, module {report.module}, load average "
        f"{report.load_average[0]:.2f} -> {report.load_average[1]:.2f}",
        " | ".join(["key type", *titles]),
    ]
    for row in report.rows:
        rates = [row.rate(p, t, load) for p, t, load in heads]
        lines.append(" | ".join([row.key_type, *("-" if r is None else f"{r:.0f}" for r in rates)]))
    lines.append("")
    lines.append(" | ".join(["CPU us/signature, solo", *(f"{p} {t}T" for p, t, _ in solo)]))
    for row in report.rows:
        costs = [None if (cell := row.cell(p, t)) is None else cell.cpu_us for p, t, _ in solo]
        lines.append(" | ".join([row.key_type, *("-" if v is None else f"{v:.1f}" for v in costs)]))
    lines.append("")
    names = list(report.rows[0].ratios) if report.rows else []
    lines.append(" | ".join(["ratios", *names]))
    for row in report.rows:
        vals = [row.ratios.get(n) for n in names]
        lines.append(" | ".join([row.key_type, *("-" if v is None else f"{v:.2f}" for v in vals)]))
    return "\n".join(lines)
