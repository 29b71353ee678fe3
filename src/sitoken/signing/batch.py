"""Batch signing: many inputs, one key, signatures in input order (native or pure Python)."""

from __future__ import annotations

import ctypes
import hashlib
import itertools
import os
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pkcs11
from asn1crypto import algos, core
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .._native_loader import native_status
from .._native_module import NativeModule
from ..errors import InvalidInput, NotSupported, TokenError, TokenNotFound
from ..pkcs11.constants import rv_name
from ..pkcs11.errors import rv_of
from ..token import KeyType, Mechanism

if TYPE_CHECKING:
    from ..pkcs11 import Pkcs11Token

CKM_RSA_PKCS = 0x1
CKM_RSA_PKCS_PSS = 0xD
CKM_ECDSA = 0x1041
CKM_EDDSA = 0x1057
CKM_SHA256, CKM_SHA384 = 0x250, 0x260
CKG_MGF1_SHA256, CKG_MGF1_SHA384 = 0x2, 0x3
CKR_OK = 0x0
CKR_KEY_HANDLE_INVALID = 0x60
SITOKEN_ECDSA_DER = 0x1

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
    """What batch signing needs from the driver to reach one private key.

    ``os_locking`` says the module was initialised with ``CKF_OS_LOCKING_OK``
    (sitoken's driver always does it); without it only one thread may sign.
    """

    module_path: str
    slot_id: int
    handle: int
    key_type: KeyType
    os_locking: bool = False


def batch_key_for(token: Pkcs11Token, selector: str) -> BatchKey:
    """The BatchKey of a private key on a token opened through sitoken's PKCS#11 driver."""
    info = token.find_key(selector)
    if info.key_type is None:
        raise NotSupported(f"key {selector!r} has a type sitoken cannot sign with")
    return BatchKey(
        module_path=token.module.path,
        slot_id=token.slot_id,
        handle=token.private_key_handle(selector),
        key_type=info.key_type,
        os_locking=bool(token.module.os_locking),
    )


@dataclass(frozen=True)
class Scheme:
    """How a sitoken Mechanism is run for batches: the raw CKM and the host-side hashing."""

    ckm: int
    hash_name: str | None  # None: the token gets the message itself (EdDSA)
    prefix: bytes = b""  # DigestInfo header in front of the hash (RSA PKCS#1 v1.5)
    pss: tuple[int, int, int] | None = None  # (hashAlg, mgf, sLen)


def _digest_info_prefix(hash_name: str) -> bytes:
    """The DER DigestInfo up to the hash bytes, built once with asn1crypto."""
    size = hashlib.new(hash_name).digest_size
    # PKCS#1 v1.5 (RFC 8017 section 9.2) writes the absent parameters as an explicit NULL.
    algorithm = {"algorithm": hash_name, "parameters": core.Null()}
    info = algos.DigestInfo({"digest_algorithm": algorithm, "digest": bytes(size)})
    return bytes(info.dump()[:-size])


SCHEMES: dict[Mechanism, Scheme] = {
    Mechanism.RSA_PKCS_SHA256: Scheme(CKM_RSA_PKCS, "sha256", _digest_info_prefix("sha256")),
    Mechanism.RSA_PKCS_SHA384: Scheme(CKM_RSA_PKCS, "sha384", _digest_info_prefix("sha384")),
    Mechanism.RSA_PSS_SHA256: Scheme(
        CKM_RSA_PKCS_PSS, "sha256", pss=(CKM_SHA256, CKG_MGF1_SHA256, 32)
    ),
    Mechanism.RSA_PSS_SHA384: Scheme(
        CKM_RSA_PKCS_PSS, "sha384", pss=(CKM_SHA384, CKG_MGF1_SHA384, 48)
    ),
    Mechanism.ECDSA_SHA256: Scheme(CKM_ECDSA, "sha256"),
    Mechanism.ECDSA_SHA384: Scheme(CKM_ECDSA, "sha384"),
    Mechanism.EDDSA: Scheme(CKM_EDDSA, None),
}

#: Largest raw signature per key type: the RSA modulus, or r||s for ECDSA, or R||S for EdDSA.
SIGNATURE_SIZE = {
    KeyType.RSA2048: 256,
    KeyType.RSA3072: 384,
    KeyType.EC_P256: 64,
    KeyType.EC_P384: 96,
    KeyType.ED25519: 64,
}


def preparer(scheme: Scheme, *, prehashed: bool = False) -> Callable[[bytes], bytes]:
    """The host-side step that turns one input into what the token signs."""
    if scheme.hash_name is None:
        if prehashed:
            raise InvalidInput("EdDSA signs the message itself; prehashed input is not possible")
        return bytes
    prefix = scheme.prefix
    if prehashed:
        size = hashlib.new(scheme.hash_name).digest_size

        def checked(digest: bytes) -> bytes:
            if len(digest) != size:
                raise InvalidInput(f"a prehashed {scheme.hash_name} input is {size} bytes")
            return prefix + bytes(digest)

        return checked
    hash_fn = getattr(hashlib, scheme.hash_name)
    return lambda data: prefix + hash_fn(data).digest()


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
    scheme = SCHEMES[mechanism]
    der = scheme.ckm == CKM_ECDSA and ecdsa_format == "der"
    signer = _make_signer(key, scheme, resolve_threads(key, threads), der, native)
    return _stream(signer, inputs, preparer(scheme, prehashed=prehashed), _ChunkSizer(chunk_size))


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
    key: BatchKey, scheme: Scheme, threads: int, der: bool, native: bool | None
) -> _Signer:
    status = native_status()
    if native and not status.active:
        raise NotSupported(f"native batch signing unavailable: {status.reason}")
    if status.active and native is not False:
        return NativeSigner(key, scheme, threads, der)
    # The Python path signs on one session: its per-call GIL release gains nothing from
    # threads against the CPU-bound work around it (PERF-BASELINE.md section 5).
    return PythonSigner(key, scheme, der)


class NativeSigner(_Signer):
    """One sitoken_sign_batch call per chunk: the GIL is released once for the whole chunk."""

    def __init__(self, key: BatchKey, scheme: Scheme, threads: int, der: bool) -> None:
        self.module = NativeModule.open(key.module_path)
        self.ffi, self.lib = self.module.ffi, self.module.lib
        self.key, self.ckm, self.threads = key, scheme.ckm, threads
        self.flags = SITOKEN_ECDSA_DER if der else 0
        self.stride = SIGNATURE_SIZE[key.key_type] + (DER_OVERHEAD if der else 0)
        self.param, self.param_len = self._param(scheme)
        self.err = self.ffi.new("sitoken_batch_error *")
        self.capacity = 0
        self.out: Any = None
        self.lens: Any = None

    def _param(self, scheme: Scheme) -> tuple[Any, int]:
        if scheme.pss is None:
            return self.ffi.NULL, 0
        param = self.ffi.new("CK_RSA_PKCS_PSS_PARAMS *", scheme.pss)
        return param, self.ffi.sizeof("CK_RSA_PKCS_PSS_PARAMS")

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
        data = b"".join(chunk) or b"\0"  # never a NULL pointer, even for empty messages
        offsets = size_t_array(itertools.accumulate(map(len, chunk), initial=0))
        ffi, err = self.ffi, self.err
        rv = self.lib.sitoken_sign_batch(
            self.module.handle, self.key.slot_id, self.key.handle, self.ckm,
            self.param, self.param_len,
            ffi.from_buffer("unsigned char[]", data), ffi.from_buffer("size_t[]", offsets), count,
            self.out, self.stride, self.lens, self.threads, self.flags, err,
        )
        if rv == CKR_OK:
            return self._collect(count), None
        function = ffi.string(err.function).decode() if err.function else "sitoken_sign_batch"
        return self._collect(err.index), batch_error(base + err.index, err.rv, function)

    def _collect(self, count: int) -> list[bytes]:
        stride = self.stride
        raw = self.ffi.buffer(self.out, count * stride)[:]
        lengths = self.ffi.unpack(self.lens, count)
        return [raw[i * stride : i * stride + n] for i, n in enumerate(lengths)]


class PythonSigner(_Signer):
    """The fallback: python-pkcs11, one C_SignInit + C_Sign per input, on one session."""

    # Codes only C_SignInit returns; python-pkcs11 does not say which call failed.
    _INIT_CODES = frozenset({0x60, 0x63, 0x68, 0x70, 0x71})

    def __init__(self, key: BatchKey, scheme: Scheme, der: bool) -> None:
        self.key, self.der = key, der
        self.mechanism = pkcs11.Mechanism(scheme.ckm)
        self.param = None
        if scheme.pss is not None:
            hash_alg, mgf, salt = scheme.pss
            self.param = (pkcs11.Mechanism(hash_alg), pkcs11.MGF(mgf), salt)
        self.session: Any = None
        self.private_key: Any = None

    def open_session(self) -> None:
        """Open the session and find the key; done lazily by the first chunk."""
        lib = pkcs11.lib(self.key.module_path)
        slot = next((s for s in lib.get_slots() if s.slot_id == self.key.slot_id), None)
        if slot is None:
            raise TokenNotFound(f"no token in slot {self.key.slot_id}")
        # No PIN here: the login belongs to the application, so this session shares it.
        self.session = slot.get_token().open()
        wanted = {pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY}
        for candidate in self.session.get_objects(wanted):
            if candidate.handle == self.key.handle:
                self.private_key = candidate
                break

    def sign_chunk(
        self, chunk: list[bytes], base: int
    ) -> tuple[list[bytes], BatchSignError | None]:
        if self.session is None:
            self.open_session()
        if self.private_key is None:
            return [], batch_error(base, CKR_KEY_HANDLE_INVALID, "C_SignInit")
        out: list[bytes] = []
        for i, data in enumerate(chunk):
            try:
                raw = self.private_key.sign(
                    data, mechanism=self.mechanism, mechanism_param=self.param
                )
            except pkcs11.PKCS11Error as exc:
                return out, self._error(exc, base + i)
            out.append(ecdsa_raw_to_der(raw) if self.der else raw)
        return out, None

    def _error(self, exc: pkcs11.PKCS11Error, index: int) -> BatchSignError:
        rv = rv_of(exc)
        if rv is None:
            return BatchSignError(f"signing input {index} failed: {exc}", index=index, rv=None,
                                  function="C_Sign")
        return batch_error(index, rv, "C_SignInit" if rv in self._INIT_CODES else "C_Sign")

    def close(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            session.close()


def ecdsa_raw_to_der(raw: bytes) -> bytes:
    """r||s as the token returns it, to the DER ECDSA-Sig-Value the rest of the world expects."""
    half = len(raw) // 2
    r, s = int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
    return encode_dss_signature(r, s)


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


_SIZE_T_CODE = next(c for c in "QLI" if array(c).itemsize == ctypes.sizeof(ctypes.c_size_t))
