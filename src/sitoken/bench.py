"""Signing benchmark: Python per-call vs native batch vs the bare C loop, by threads and load."""

from __future__ import annotations

import itertools
import os
import shutil
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
    path: str  # python (per-call, python-pkcs11), native (batch), reference (bare C loop)
    threads: int
    under_load: bool
    signatures: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.signatures / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "rate": round(self.rate, 1)}


@dataclass(frozen=True)
class BenchRow:
    """All cells of one key type, with the ratios the native path is judged by."""

    key_type: str
    mechanism: str
    cells: tuple[BenchCell, ...]
    ratios: dict[str, float | None] = field(default_factory=dict)

    def rate(self, path: str, threads: int, under_load: bool = False) -> float | None:
        for c in self.cells:
            if (c.path, c.threads, c.under_load) == (path, threads, under_load):
                return c.rate
        return None

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
    """T Python threads, each on its own session, one python-pkcs11 call pair per input."""
    counts = [0] * threads

    def worker(i: int) -> None:
        counts[i] = _count_stream(key, seconds, threads=1, native=False)

    started = time.perf_counter()
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


def measure_reference(key: BatchKey, seconds: float) -> tuple[int, float]:
    """The bare C_SignInit + C_Sign loop on one session: the ceiling for this module."""
    mechanism = key.key_type.default_mechanism
    ck = key.token.mechanism_for(key.key_type, mechanism, "bench")
    data = preparer(mechanism)(MESSAGE)
    with key.token.open_session() as session:
        n = 16
        while True:  # calibrate on a short probe, then size one call for the cell
            elapsed = _reference_call(key, session.handle, ck.ckm, ck.spec.pss, data, n)
            if elapsed >= 0.1 or n >= 1 << 24:
                break
            n *= 4
        n = max(1, int(n * seconds / max(elapsed, 1e-6)))
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


def _cells_for(
    key: BatchKey, seconds: float, threads: Sequence[int], native: bool, progress: Progress
) -> list[BenchCell]:
    plan: list[tuple[str, int, bool]] = []
    for path in PATHS if native else ("python",):
        for t in (1,) if path == "reference" else threads:
            plan += [(path, t, False), (path, t, True)]
    cells = []
    for path, t, loaded in plan:
        progress(f"{key.key_type.value}: {path} {t}T{' under load' if loaded else ''}")
        with cpu_load(loaded):
            if path == "python":
                count, elapsed = measure_python(key, seconds, t)
            elif path == "native":
                count, elapsed = measure_native(key, seconds, t)
            else:
                count, elapsed = measure_reference(key, seconds)
        cells.append(BenchCell(key.key_type.value, path, t, loaded, count, elapsed))
    return cells


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _row(key: BatchKey, cells: list[BenchCell], threads: Sequence[int]) -> BenchRow:
    row = BenchRow(key.key_type.value, key.key_type.default_mechanism.value, tuple(cells))
    top = max(threads)
    row.ratios.update({
        "native/python 1T": _ratio(row.rate("native", 1), row.rate("python", 1)),
        "native/python 1T under load": _ratio(
            row.rate("native", 1, True), row.rate("python", 1, True)
        ),
        f"native {top}T/1T": _ratio(row.rate("native", top), row.rate("native", 1)),
        f"python {top}T/1T": _ratio(row.rate("python", top), row.rate("python", 1)),
        "native under load/solo 1T": _ratio(row.rate("native", 1, True), row.rate("native", 1)),
        "python under load/solo 1T": _ratio(row.rate("python", 1, True), row.rate("python", 1)),
        "native 1T/reference": _ratio(row.rate("native", 1), row.rate("reference", 1)),
        # The bare C loop never holds the GIL: its drop under load is the CPU the busy thread
        # takes, which tells a GIL effect from a busy machine.
        "reference under load/solo 1T": _ratio(row.rate("reference", 1, True), row.rate("reference", 1)),
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
    store = Path(tempfile.mkdtemp(prefix="sitoken-bench-"))
    token = None
    try:
        token = _make_bench_token(store, key_types, progress)
        # The token object holds the session that keeps the user logged in: keep it open.
        yield {kt: batch_key_for(token, kt.value) for kt in key_types}
    finally:
        if token is not None:
            token.close()
        shutil.rmtree(store, ignore_errors=True)


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
    names = list(report.rows[0].ratios) if report.rows else []
    lines.append(" | ".join(["ratios", *names]))
    for row in report.rows:
        vals = [row.ratios.get(n) for n in names]
        lines.append(" | ".join([row.key_type, *("-" if v is None else f"{v:.2f}" for v in vals)]))
    return "\n".join(lines)
