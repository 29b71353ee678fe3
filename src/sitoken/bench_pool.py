"""Pool benchmark: N tokens signing side by side against one token, in the same run."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .bench import MESSAGE, BenchCell, Progress, _make_bench_token, bench_store, check_key_types
from .errors import InvalidInput
from .signing.pool import PoolMember, pool_member, sign_many
from .token import KeyType

if TYPE_CHECKING:
    from .pkcs11 import Pkcs11Token


@dataclass(frozen=True)
class PoolRow:
    """One key type: the pool of all tokens against its first token alone.

    Both cells have the path ``pool``; their ``threads`` is the number of tokens signing
    side by side (one session each).
    """

    key_type: str
    one: BenchCell
    pool: BenchCell

    @property
    def ratio(self) -> float | None:
        return round(self.pool.rate / self.one.rate, 3) if self.one.rate else None

    def to_dict(self) -> dict[str, object]:
        return {"key_type": self.key_type, "one": self.one.to_dict(), "pool": self.pool.to_dict(),
                "ratio": self.ratio}


def measure_pool(members: Sequence[PoolMember], seconds: float) -> tuple[int, float]:
    """Sign the 64-byte message through the pool until ``seconds`` have passed."""
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()

    def until() -> Iterator[bytes]:
        while time.perf_counter() < deadline:
            yield MESSAGE

    count = sum(1 for _ in sign_many(members, until()))
    return count, time.perf_counter() - started


def pool_rows(
    members_by_type: dict[KeyType, list[PoolMember]], seconds: float, progress: Progress
) -> tuple[PoolRow, ...]:
    """For each key type: its first member alone, then all members side by side."""
    rows = []
    for key_type, members in members_by_type.items():
        cells = []
        for group in (members[:1], members):
            progress(f"{key_type.value}: pool of {len(group)} token(s)")
            count, elapsed = measure_pool(group, seconds)
            cells.append(BenchCell(key_type.value, "pool", len(group), False, count, elapsed))
        rows.append(PoolRow(key_type.value, cells[0], cells[1]))
    return tuple(rows)


def run_pool_bench(
    *, pool: int, seconds: float = 1.0, key_types: Sequence[KeyType] | None = None,
    progress: Progress | None = None,
) -> tuple[PoolRow, ...]:
    """Create ``pool`` SoftHSM tokens in a temporary store and compare them with one of them."""
    if pool < 2:
        raise InvalidInput("a pool benchmark needs at least 2 tokens")
    kinds = check_key_types(key_types or (KeyType.RSA2048, KeyType.EC_P256))
    report = progress or (lambda _: None)
    with _pool_tokens(pool, kinds, report) as tokens:
        members = {kt: [pool_member(t, kt.value) for t in tokens] for kt in kinds}
        return pool_rows(members, seconds, report)


@contextmanager
def _pool_tokens(count: int, key_types: Sequence[KeyType], progress: Progress) -> Iterator[list[Pkcs11Token]]:
    tokens: list[Pkcs11Token] = []
    with bench_store("sitoken-bench-pool-") as store:
        try:
            for n in range(count):
                tokens.append(_make_bench_token(store, key_types, progress, label_suffix=f"-{n + 1}"))
            yield tokens
        finally:
            for token in tokens:
                token.close()


def format_pool(rows: Sequence[PoolRow]) -> str:
    """The pool rows as a plain-text table (signatures/s)."""
    lines = ["key type | tokens | one token | pool | pool/one"]
    for row in rows:
        lines.append(f"{row.key_type} | {row.pool.threads} | {row.one.rate:.0f} | {row.pool.rate:.0f} | "
                     f"{row.ratio if row.ratio is not None else '-'}")
    return "\n".join(lines)
