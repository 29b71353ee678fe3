"""Batch signing: many inputs, one key, signatures in input order (native or pure Python)."""

from __future__ import annotations

import itertools
import os
import struct
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .._native_loader import binding, native_status
from ..algorithms import KeyType, Mechanism, preparer
from ..errors import InvalidInput, NotSupported, TokenError
from ..pkcs11.constants import rv_name

if TYPE_CHECKING:
    from ..pkcs11 import Pkcs11Token
    from ..pkcs11.mechanisms import CkMechanism
    from ..pkcs11.session import Session

#: A chunk should keep C busy this long: the GIL is retaken once per chunk (up to 5 ms
#: against a busy Python thread), so longer chunks waste less; shorter ones stream sooner.
CHUNK_SECONDS = 0.25
MIN_CHUNK, FIRST_CHUNK, MAX_CHUNK = 16, 64, 16384
# DER adds at most 12 bytes to r||s (SEQUENCE and two INTEGER headers, two sign bytes).
DER_OVERHEAD = 16

EcdsaFormat = Literal["der", "raw"]


class BatchSignError(TokenError):
    """Signing input number ``index`` failed; every input before it was signed."""

    code = "batch-sign-error"

    def __init__(self, message: str, *, index: int, rv: int | None, function: str | None) -> None:
        super().__init__(message, rv=rv, function=function)
        self.index = index

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "index": self.index}


@dataclass(frozen=True)
class BatchKey:
    """What batch signing needs to reach one private key: the token object and the key handle.

    The signer opens its sessions through the token, on the module's one function list, so
    it never loads the module again. ``os_locking`` says the module was initialised with
    ``CKF_OS_LOCKING_OK`` (sitoken's driver always does it); without it only one thread may
    sign.
    """

    token: Pkcs11Token
    handle: int
    key_type: KeyType
    os_locking: bool = False

    @property
    def module_path(self) -> str:
        return self.token.module.path

    @property
    def slot_id(self) -> int:
        return self.token.slot_id


def batch_key_for(token: Pkcs11Token, selector: str) -> BatchKey:
    """The BatchKey of a private key on a token opened through sitoken's PKCS#11 driver."""
    info = token.find_key(selector)
    if info.key_type is None:
        raise NotSupported(f"key {selector!r} has a type sitoken cannot sign with")
    return BatchKey(
        token=token,
        handle=token.private_key_handle(selector),
        key_type=info.key_type,
        os_locking=bool(token.module.os_locking),
    )


def resolve_threads(key: BatchKey, threads: int | None) -> int:
    """Threads for a batch; more than one needs a module initialised with OS locking."""
    if threads is None:
        return (os.cpu_count() or 1) if key.os_locking else 1
    if threads < 1:
        raise InvalidInput("threads must be at least 1")
    if threads > 1 and not key.os_locking:
        raise NotSupported(
            "several signing threads need the module initialised with CKF_OS_LOCKING_OK "
            "(SoftHSM crashes otherwise); load it through sitoken's driver"
        )
    return threads


class _ChunkSizer:
    """Sizes the next chunk so that one C call lasts about CHUNK_SECONDS."""

    def __init__(self, fixed: int | None) -> None:
        if fixed is not None and fixed < 1:
            raise InvalidInput("chunk_size must be at least 1")
        self.fixed = fixed
        self.size = fixed or FIRST_CHUNK

    def update(self, count: int, seconds: float) -> None:
        if self.fixed is None and count:
            rate = count / max(seconds, 1e-6)
            self.size = max(MIN_CHUNK, min(MAX_CHUNK, int(rate * CHUNK_SECONDS)))


def sign_many(
    key: BatchKey,
    inputs: Iterable[bytes],
    mechanism: Mechanism | None = None,
    *,
    threads: int | None = None,
    chunk_size: int | None = None,
    ecdsa_format: EcdsaFormat = "der",
    prehashed: bool = False,
    native: bool | None = None,
) -> Iterator[bytes]:
    """Sign every input with one key; yields signatures in input order.

    Inputs are read in chunks, so memory stays flat however many there are.
    The hash is computed on the host (``prehashed=True``: the inputs already are
    hashes). ``native``: None uses the extension when active, False forces the
    Python path, True requires the extension. The user must be logged in.
    On failure, every signature before the failing input has been yielded and
    :class:`BatchSignError` names the input and the PKCS#11 code.
    """
    mechanism = mechanism or key.key_type.default_mechanism
    if mechanism.family != key.key_type.family:
        raise InvalidInput(f"{mechanism.value} does not fit a {key.key_type.value} key")
    prepare = preparer(mechanism, prehashed=prehashed)
    ck = key.token.mechanism_for(key.key_type, mechanism, f"handle {key.handle}")
    der = mechanism.facts.token_output == "raw-rs" and ecdsa_format == "der"
    signer = _make_signer(key, ck, resolve_threads(key, threads), der, native)
    return _stream(signer, inputs, prepare, _ChunkSizer(chunk_size))


def sign_batch(key: BatchKey, inputs: Iterable[bytes], **options: Any) -> list[bytes]:
    """:func:`sign_many` collected into a list."""
    return list(sign_many(key, inputs, **options))


def _stream(
    signer: _Signer, inputs: Iterable[bytes], prepare: Callable[[bytes], bytes], sizer: _ChunkSizer
) -> Iterator[bytes]:
    it = iter(inputs)
    base = 0
    try:
        while chunk := [prepare(x) for x in itertools.islice(it, sizer.size)]:
            started = time.perf_counter()
            signatures, error = signer.sign_chunk(chunk, base)
            sizer.update(len(chunk), time.perf_counter() - started)
            yield from signatures
            if error is not None:
                raise error
            base += len(chunk)
    finally:
        signer.close()


class _Signer:
    """Signs one chunk: returns the signatures before the first failure, and that failure."""

    def sign_chunk(
        self, chunk: list[bytes], base: int
    ) -> tuple[list[bytes], BatchSignError | None]:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the signer holds (sessions); idempotent."""


def _make_signer(
    key: BatchKey, ck: CkMechanism, threads: int, der: bool, native: bool | None
) -> _Signer:
    status = native_status()
    if native and not status.active:
        raise NotSupported(f"native batch signing unavailable: {status.reason}")
    if status.active and native is not False:
        return NativeSigner(key, ck, threads, der)
    # The Python path signs on one session: its per-call GIL release gains nothing from
    # threads against the CPU-bound work around it (PERF-BASELINE.md section 5).
    return PythonSigner(key, ck, der)


class NativeSigner(_Signer):
    """One sitoken_sign_batch call per chunk: the GIL is released once for the whole chunk.

    The T sessions come from the token (the module's one function list); C runs one thread
    per session and never opens the module itself.
    """

    def __init__(self, key: BatchKey, ck: CkMechanism, threads: int, der: bool) -> None:
        found = binding()
        if found is None:
            raise NotSupported(f"native batch signing unavailable: {native_status().reason}")
        self.ffi, self.lib = found
        self.key, self.ckm, self.threads = key, ck.ckm, threads
        self.fl = function_list_for(self.ffi, key.token)
        self.flags = self.lib.SITOKEN_ECDSA_DER if der else 0
        self.stride = key.key_type.facts.signature_size + (DER_OVERHEAD if der else 0)
        self.param, self.param_len = self._param(ck)
        self.err = self.ffi.new("sitoken_batch_error *")
        self.sessions: list[Session] = []
        self.handles: Any = None
        self.capacity = 0
        self.out: Any = None
        self.lens: Any = None

    def _param(self, ck: CkMechanism) -> tuple[Any, int]:
        if ck.spec.pss is None:
            return self.ffi.NULL, 0
        param = self.ffi.new("CK_RSA_PKCS_PSS_PARAMS *", ck.spec.pss)
        return param, self.ffi.sizeof("CK_RSA_PKCS_PSS_PARAMS")

    def _open(self, count: int) -> None:
        # One session per worker thread, opened lazily: a short batch needs fewer.
        wanted = min(self.threads, count)
        while len(self.sessions) < wanted:
            self.sessions.append(self.key.token.open_session())
        self.handles = self.ffi.new("CK_SESSION_HANDLE[]", [s.handle for s in self.sessions])

    def _reserve(self, count: int) -> None:
        # Buffers only grow, so a stream of chunks reuses them: memory stays flat.
        if count > self.capacity:
            self.out = self.ffi.new("unsigned char[]", count * self.stride)
            self.lens = self.ffi.new("size_t[]", count)
            self.capacity = count

    def sign_chunk(
        self, chunk: list[bytes], base: int
    ) -> tuple[list[bytes], BatchSignError | None]:
        count = len(chunk)
        self._reserve(count)
        if len(self.sessions) < min(self.threads, count):
            self._open(count)
        data = b"".join(chunk) or b"\0"  # never a NULL pointer, even for empty messages
        offsets = size_t_array(itertools.accumulate(map(len, chunk), initial=0))
        ffi, err = self.ffi, self.err
        status = self.lib.sitoken_sign_batch(
            self.fl, self.handles, min(len(self.sessions), count), self.key.handle, self.ckm,
            self.param, self.param_len,
            ffi.from_buffer("unsigned char[]", data), ffi.from_buffer("size_t[]", offsets), count,
            self.out, self.stride, self.lens, self.flags, err,
        )
        if status == self.lib.SITOKEN_OK:
            return self._collect(count), None
        return self._collect(err.index), self._error(base + err.index)

    def _error(self, index: int) -> BatchSignError:
        err, lib = self.err, self.lib
        function = self.ffi.string(err.function).decode() if err.function else "sitoken_sign_batch"
        if err.status == lib.SITOKEN_E_MODULE:
            return batch_error(index, int(err.rv), function)
        if err.status == lib.SITOKEN_E_LENGTH:
            what = (f"{function} returned a length of {err.length} for a buffer of {self.stride} "
                    "bytes: the module broke the PKCS#11 contract (nothing beyond the buffer was read)")
        else:
            what = f"{function} failed (sitoken status {err.status})"
        return BatchSignError(f"signing input {index} failed: {what}", index=index, rv=None,
                              function=function)

    def _collect(self, count: int) -> list[bytes]:
        stride = self.stride
        raw = self.ffi.buffer(self.out, count * stride)[:]
        lengths = self.ffi.unpack(self.lens, count)
        if any(n > stride for n in lengths):  # C checked it already; a C bug must not leak memory
            raise BatchSignError("the native signer reported a length beyond its buffer", index=0,
                                 rv=None, function="sitoken_sign_batch")
        return [raw[i * stride : i * stride + n] for i, n in enumerate(lengths)]

    def close(self) -> None:
        sessions, self.sessions = self.sessions, []
        for session in sessions:
            session.close()


def function_list_for(ffi: Any, token: Pkcs11Token) -> Any:
    """The module's function list as the extension's type (the binding may run in ABI mode)."""
    functions = token.module.functions
    if functions.mode == "api":
        return functions.fl
    address = int(functions.ffi.cast("uintptr_t", functions.fl))
    return ffi.cast("CK_FUNCTION_LIST *", address)


class PythonSigner(_Signer):
    """The fallback: one C_SignInit + C_Sign per input through the binding, on one session."""

    def __init__(self, key: BatchKey, ck: CkMechanism, der: bool) -> None:
        self.key, self.ck, self.der = key, ck, der
        self.session: Session | None = None

    def sign_chunk(
        self, chunk: list[bytes], base: int
    ) -> tuple[list[bytes], BatchSignError | None]:
        if self.session is None:
            # No PIN here: the login belongs to the application, so this session shares it.
            self.session = self.key.token.open_session()
        session, spec, handle = self.session, self.ck.spec, self.key.handle
        out: list[bytes] = []
        for i, data in enumerate(chunk):
            try:
                raw = session.sign(spec, handle, data)
            except TokenError as exc:
                return out, _python_error(exc, base + i)
            out.append(self.ck.finish(raw) if self.der else raw)
        return out, None

    def close(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            session.close()


def _python_error(exc: TokenError, index: int) -> BatchSignError:
    if exc.rv is None:
        return BatchSignError(f"signing input {index} failed: {exc}", index=index, rv=None,
                              function=exc.function)
    return batch_error(index, exc.rv, exc.function or "C_Sign")


def batch_error(index: int, rv: int, function: str) -> BatchSignError:
    """The error for input ``index``, with the code's spec name where sitoken knows it."""
    return BatchSignError(
        f"signing input {index} failed ({function}: {rv_name(rv)}, 0x{rv:X})",
        index=index,
        rv=rv,
        function=function,
    )


def size_t_array(values: Iterable[int]) -> array[int]:
    """An array laid out like C size_t[] (for cffi's from_buffer, without copying)."""
    return array(_SIZE_T_CODE, values)


_SIZE_T_CODE = next(c for c in "QLI" if array(c).itemsize == struct.calcsize("N"))
