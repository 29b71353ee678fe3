"""A signing pool: many inputs over keys on several tokens at once, signatures in input order."""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, NotSupported, SitokenError, TokenError
from ..token import Mechanism
from .batch import BatchKey, BatchSignError, EcdsaFormat, batch_key_for
from .batch import sign_many as sign_on_one_token

if TYPE_CHECKING:
    from ..token import Token

#: One pool chunk keeps a token busy about this long: long enough that the per-chunk cost
#: (a session through the RPC, a thread hand-over) disappears, short enough to balance tokens.
CHUNK_SECONDS = 0.1
FIRST_CHUNK, MIN_CHUNK, MAX_CHUNK = 16, 4, 4096
CHUNKS_AHEAD = 2  # chunks per token read ahead of the slowest unfinished one: bounds memory


class PoolSignError(TokenError):
    """Input number ``index`` failed on token ``token``; every input before it was signed."""

    code = "pool-sign-error"

    def __init__(self, message: str, *, index: int, token: str, rv: int | None = None,
                 function: str | None = None) -> None:
        super().__init__(message, rv=rv, function=function)
        self.index, self.token = index, token

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "index": self.index, "token": self.token}


@dataclass(frozen=True)
class PoolMember:
    """One key on one token of the pool, signing on ``sessions`` sessions side by side."""

    key: BatchKey
    token: str  # how errors name the token (its label)
    sessions: int = 1


def pool_member(token: Token, selector: str, *, sessions: int = 1) -> PoolMember:
    """A pool member for a key on a token opened (and logged in) through sitoken's PKCS#11 driver."""
    from ..pkcs11 import Pkcs11Token

    if not isinstance(token, Pkcs11Token):
        raise NotSupported(f"batch signing needs a PKCS#11 token; {token.info().label!r} is not one")
    if sessions < 1:
        raise InvalidInput("sessions must be at least 1")
    return PoolMember(batch_key_for(token, selector), token.info().label, sessions)


@dataclass
class _Chunk:
    base: int  # index of its first input in the whole stream
    inputs: list[bytes]
    signatures: list[bytes] = field(default_factory=list)
    error: SitokenError | None = None
    done: threading.Event = field(default_factory=threading.Event)


def sign_many(
    members: Sequence[PoolMember],
    inputs: Iterable[bytes],
    mechanism: Mechanism | None = None,
    *,
    chunk_size: int | None = None,
    ecdsa_format: EcdsaFormat = "der",
    prehashed: bool = False,
    native: bool | None = None,
) -> Iterator[bytes]:
    """Sign every input with whichever member is free; yields signatures in input order.

    Inputs are cut into chunks that the members take as they finish the previous one,
    so a faster token signs more. Only a few chunks per member are read ahead, so
    memory stays flat however many inputs there are. All keys must be of one type
    (each signature must verify the same way). On the first failure, every signature
    before the failing input is yielded, then :class:`PoolSignError` names the input
    and the token; the other tokens stop after their current chunk.
    """
    _check_members(members)
    options = {"mechanism": mechanism, "ecdsa_format": ecdsa_format, "prehashed": prehashed,
               "native": native}
    return _Pool(members, options, chunk_size).run(iter(inputs))


def _check_members(members: Sequence[PoolMember]) -> None:
    if not members:
        raise InvalidInput("a signing pool needs at least one key")
    types = {m.key.key_type for m in members}
    if len(types) > 1:
        raise InvalidInput("the pool's keys must be of one type, not " + ", ".join(sorted(t.value for t in types)))


class _Pool:
    """A feeder cuts chunks, one worker thread per member signs them, the caller yields them."""

    def __init__(self, members: Sequence[PoolMember], options: dict[str, Any], chunk_size: int | None) -> None:
        if chunk_size is not None and chunk_size < 1:
            raise InvalidInput("chunk_size must be at least 1")
        self.members, self.options = members, options
        self.fixed_size, self.size = chunk_size, chunk_size or FIRST_CHUNK
        self.work: queue.Queue[_Chunk | None] = queue.Queue()
        self.order: queue.Queue[_Chunk | None] = queue.Queue()
        self.window = threading.Semaphore(CHUNKS_AHEAD * len(members) + 1)
        self.stop = threading.Event()  # no more chunks: a failure, or the caller stopped reading
        self.failed_at: int | None = None  # lowest input index that failed; later chunks are skipped
        self.lock = threading.Lock()

    def run(self, inputs: Iterator[bytes]) -> Iterator[bytes]:
        threads = [threading.Thread(target=self._feed, args=(inputs,), daemon=True)]
        threads += [threading.Thread(target=self._work, args=(m,), daemon=True) for m in self.members]
        for thread in threads:
            thread.start()
        try:
            while (chunk := self.order.get()) is not None:
                chunk.done.wait()
                yield from chunk.signatures
                self.window.release()
                if chunk.error is not None:
                    raise chunk.error
        finally:
            self._shut_down(threads)

    def _shut_down(self, threads: list[threading.Thread]) -> None:
        self.stop.set()
        for _ in threads:
            self.window.release()  # a feeder waiting for room wakes up and sees stop
            self.work.put(None)
        for thread in threads:
            thread.join()

    def _feed(self, inputs: Iterator[bytes]) -> None:
        base = 0
        try:
            while not self.stop.is_set():
                self.window.acquire()
                batch = list(itertools.islice(inputs, self.size))
                if not batch or self.stop.is_set():
                    break
                chunk = _Chunk(base, batch)
                self.order.put(chunk)
                self.work.put(chunk)
                base += len(batch)
        except Exception as exc:  # reading the inputs failed: the caller sees it in its place
            self._fail_at(base, exc)
        finally:
            self.order.put(None)

    def _fail_at(self, base: int, exc: Exception) -> None:
        chunk = _Chunk(base, [])
        chunk.error = exc if isinstance(exc, SitokenError) else InvalidInput(f"reading input {base} failed: {exc}")
        chunk.done.set()
        self.order.put(chunk)

    def _work(self, member: PoolMember) -> None:
        while (chunk := self.work.get()) is not None:
            if self._skipped(chunk):
                # Never yielded: the caller raises at an earlier input, or has stopped reading.
                chunk.error = TokenError(f"inputs from {chunk.base} on were not signed: the pool stopped")
            else:
                self._sign(member, chunk)
            chunk.done.set()

    def _skipped(self, chunk: _Chunk) -> bool:
        with self.lock:
            # Chunks before a failure are still signed: everything before it must be yielded.
            return (self.failed_at is not None and chunk.base > self.failed_at) or \
                (self.stop.is_set() and self.failed_at is None)

    def _failed(self, index: int) -> None:
        with self.lock:
            self.failed_at = index if self.failed_at is None else min(self.failed_at, index)
            self.stop.set()

    def _sign(self, member: PoolMember, chunk: _Chunk) -> None:
        started = time.perf_counter()
        try:
            for signature in sign_on_one_token(member.key, chunk.inputs, threads=member.sessions,
                                               chunk_size=len(chunk.inputs), **self.options):
                chunk.signatures.append(signature)
        except Exception as exc:  # whatever it is, it reaches the caller in its place
            chunk.error = _pool_error(exc, chunk.base + len(chunk.signatures), member.token)
            self._failed(chunk.error.index)
            return
        self._resize(len(chunk.inputs), time.perf_counter() - started)

    def _resize(self, count: int, seconds: float) -> None:
        if self.fixed_size is None:
            rate = count / max(seconds, 1e-6)
            self.size = max(MIN_CHUNK, min(MAX_CHUNK, int(rate * CHUNK_SECONDS)))


def _pool_error(exc: Exception, index: int, token: str) -> PoolSignError:
    rv = getattr(exc, "rv", None)
    function = getattr(exc, "function", None)
    # A batch error's text starts with its own (chunk-relative) index: keep only its cause.
    reason = str(exc).split(" failed ", 1)[-1] if isinstance(exc, BatchSignError) else str(exc) or type(exc).__name__
    return PoolSignError(f"signing input {index} on token {token!r} failed: {reason}",
                         index=index, token=token, rv=rv, function=function)
