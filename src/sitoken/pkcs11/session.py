"""A PKCS#11 session on one function list: objects, attributes, PINs, keys, signing.

Every length a module returns is checked against the buffer sitoken gave it before a byte is
read; attribute reads ask for the sizes first. A session closes itself (``with``, ``close()``
or when it is collected), once, and never after the module was re-initialised, when its
handle number may belong to someone else.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .attributes import CTemplate, Template, unpack
from .binding import FunctionList
from .constants import (
    CK_UNAVAILABLE_INFORMATION,
    CKA,
    CKF_RW_SESSION,
    CKF_SERIAL_SESSION,
    CKR_ATTRIBUTE_SENSITIVE,
    CKR_ATTRIBUTE_TYPE_INVALID,
    CKR_BUFFER_TOO_SMALL,
    CKR_OK,
    CKR_SIGNATURE_INVALID,
    CKR_SIGNATURE_LEN_RANGE,
)
from .errors import error_for_rv, length_error

#: Objects fetched per C_FindObjects call.
FIND_BATCH = 64
#: No attribute sitoken reads is anywhere near this; a larger claimed size is a broken module.
MAX_ATTRIBUTE = 1 << 20
#: First buffer for a signature: RSA-4096 fits, so one C_Sign call is the rule.
SIGNATURE_GUESS = 512
_READ_OK = (CKR_OK, CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_TYPE_INVALID)


@dataclass(frozen=True)
class MechanismSpec:
    """A mechanism as the module sees it: the CKM number and, for RSA PSS, (hashAlg, mgf, sLen)."""

    ckm: int
    pss: tuple[int, int, int] | None = None

    def build(self, ffi: Any) -> Any:
        """A ``CK_MECHANISM *`` (its parameter kept alive through ``keep``)."""
        mech = ffi.new("CK_MECHANISM *")
        mech.mechanism = self.ckm
        if self.pss is not None:
            param = ffi.new("CK_RSA_PKCS_PSS_PARAMS *", self.pss)
            mech.pParameter = param
            mech.ulParameterLen = ffi.sizeof("CK_RSA_PKCS_PSS_PARAMS")
            return _Kept(mech, param)
        return _Kept(mech, None)


@dataclass(frozen=True)
class _Kept:
    ptr: Any
    keep: Any


def _close(functions: FunctionList, handle: int, generation: int) -> None:
    if functions.generation == generation:
        functions.call("C_CloseSession", handle)


def byte_view(ffi: Any, data: bytes | bytearray) -> Any:
    """A ``CK_BYTE *`` onto ``data`` without a copy (NULL for empty data)."""
    if not data:
        return ffi.NULL
    return ffi.from_buffer("CK_BYTE[]", data)


class Session:
    """One open session; use it from one thread at a time."""

    def __init__(self, functions: FunctionList, slot_id: int, *, rw: bool = True) -> None:
        self.functions = functions
        self.ffi = functions.ffi
        self.slot_id = slot_id
        out = self.ffi.new("CK_SESSION_HANDLE *")
        flags = CKF_SERIAL_SESSION | (CKF_RW_SESSION if rw else 0)
        functions.check("C_OpenSession", slot_id, flags, self.ffi.NULL, self.ffi.NULL, out)
        self.handle = int(out[0])
        self._finalizer = weakref.finalize(self, _close, functions, self.handle, functions.generation)

    def close(self) -> None:
        """C_CloseSession, once; a no-op after the module was re-initialised."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Session(slot={self.slot_id}, handle={self.handle})"

    def call(self, name: str, *args: Any) -> int:
        """``name`` with this session's handle first; returns the CK_RV."""
        return self.functions.call(name, self.handle, *args)

    def check(self, name: str, *args: Any) -> None:
        self.functions.check(name, self.handle, *args)

    # -- PINs (the caller decides what a refusal means) ----------------------------------

    def login(self, user_type: int, pin: bytearray) -> int:
        return self.call("C_Login", user_type, byte_view(self.ffi, pin), len(pin))

    def logout(self) -> int:
        return self.call("C_Logout")

    def init_pin(self, pin: bytearray) -> int:
        return self.call("C_InitPIN", byte_view(self.ffi, pin), len(pin))

    def set_pin(self, old: bytearray, new: bytearray) -> int:
        ffi = self.ffi
        return self.call("C_SetPIN", byte_view(ffi, old), len(old), byte_view(ffi, new), len(new))

    # -- objects -------------------------------------------------------------------------

    def find(self, template: Template) -> list[int]:
        """Handles of every object matching ``template``."""
        ctemplate = CTemplate(self.ffi, template)
        self.check("C_FindObjectsInit", ctemplate.array, ctemplate.count)
        handles = self.ffi.new("CK_OBJECT_HANDLE[]", FIND_BATCH)
        count = self.ffi.new("CK_ULONG *")
        found: list[int] = []
        try:
            while True:
                self.check("C_FindObjects", handles, FIND_BATCH, count)
                if count[0] > FIND_BATCH:
                    raise length_error("C_FindObjects", int(count[0]), FIND_BATCH, "handles")
                found.extend(int(handles[i]) for i in range(count[0]))
                if count[0] < FIND_BATCH:
                    return found
        finally:
            self.call("C_FindObjectsFinal")

    def attributes(self, obj: int, wanted: Sequence[int]) -> dict[int, Any]:
        """The values of ``wanted``; an attribute the object lacks or hides comes back None.

        Two calls: the first asks for the sizes, the second reads into buffers of exactly
        those sizes, and a length larger than its buffer is refused, not read.
        """
        ffi, n = self.ffi, len(wanted)
        template = ffi.new("CK_ATTRIBUTE[]", n)
        for i, attribute in enumerate(wanted):
            template[i].type = int(attribute)
        self._read(obj, template, n)
        sizes = [int(template[i].ulValueLen) for i in range(n)]
        buffers: list[Any] = []
        for i, size in enumerate(sizes):
            if size != CK_UNAVAILABLE_INFORMATION and size > MAX_ATTRIBUTE:
                raise length_error("C_GetAttributeValue", size, MAX_ATTRIBUTE)
            buf = None if size in (0, CK_UNAVAILABLE_INFORMATION) else ffi.new("CK_BYTE[]", size)
            buffers.append(buf)
            template[i].pValue = ffi.NULL if buf is None else buf
            template[i].ulValueLen = 0 if buf is None else size
        self._read(obj, template, n)
        return {wanted[i]: self._value(template[i], buffers[i], sizes[i]) for i in range(n)}

    def _read(self, obj: int, template: Any, n: int) -> None:
        rv = self.call("C_GetAttributeValue", obj, template, n)
        if rv not in _READ_OK:
            raise error_for_rv(rv, "C_GetAttributeValue")

    def _value(self, entry: Any, buf: Any, size: int) -> Any:
        if size == CK_UNAVAILABLE_INFORMATION:
            return None
        got = int(entry.ulValueLen)
        if buf is None:
            return None if got == CK_UNAVAILABLE_INFORMATION else unpack(self.ffi, entry.type, b"")
        if got == CK_UNAVAILABLE_INFORMATION:
            return None
        if got > size:
            raise length_error("C_GetAttributeValue", got, size)
        return unpack(self.ffi, int(entry.type), self.ffi.buffer(buf, got)[:])

    def attribute(self, obj: int, attribute: int) -> Any:
        return self.attributes(obj, [attribute])[attribute]

    def create(self, template: Template) -> int:
        ctemplate = CTemplate(self.ffi, template)
        out = self.ffi.new("CK_OBJECT_HANDLE *")
        self.check("C_CreateObject", ctemplate.array, ctemplate.count, out)
        handle = int(out[0])
        # SoftHSM on a full store answers CKR_OK for an object it did not keep: read it back,
        # and report a failure as the C_CreateObject it belongs to.
        probe = self.ffi.new("CK_ATTRIBUTE *")
        probe.type = CKA.CLASS
        rv = self.call("C_GetAttributeValue", handle, probe, 1)
        if rv != CKR_OK:
            raise error_for_rv(rv, "C_CreateObject")
        return handle

    def destroy(self, obj: int) -> None:
        self.check("C_DestroyObject", obj)

    def generate_key_pair(self, mechanism: MechanismSpec, public: Template, private: Template) -> tuple[int, int]:
        """C_GenerateKeyPair; returns (public handle, private handle)."""
        ffi = self.ffi
        mech = mechanism.build(ffi)
        pub, priv = CTemplate(ffi, public), CTemplate(ffi, private)
        pub_out, priv_out = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
        self.check("C_GenerateKeyPair", mech.ptr, pub.array, pub.count, priv.array, priv.count,
                   pub_out, priv_out)
        return int(pub_out[0]), int(priv_out[0])

    # -- signing ---------------------------------------------------------------------------

    def sign(self, mechanism: MechanismSpec, key: int, data: bytes) -> bytes:
        """C_SignInit + C_Sign; ``data`` is what the token signs (hashed by the caller or not)."""
        ffi = self.ffi
        mech = mechanism.build(ffi)
        self.check("C_SignInit", mech.ptr, key)
        view = byte_view(ffi, data)
        size = SIGNATURE_GUESS
        out, length = ffi.new("CK_BYTE[]", size), ffi.new("CK_ULONG *", size)
        rv = self.call("C_Sign", view, len(data), out, length)
        if rv == CKR_BUFFER_TOO_SMALL:
            # The operation stays active; the module said how much it needs.
            size = int(length[0])
            if size <= SIGNATURE_GUESS or size > MAX_ATTRIBUTE:
                raise length_error("C_Sign", size, SIGNATURE_GUESS)
            out, length = ffi.new("CK_BYTE[]", size), ffi.new("CK_ULONG *", size)
            rv = self.call("C_Sign", view, len(data), out, length)
        if rv != CKR_OK:
            raise error_for_rv(rv, "C_Sign")
        if length[0] > size:
            raise length_error("C_Sign", int(length[0]), size)
        return bytes(ffi.buffer(out, length[0]))

    def verify(self, mechanism: MechanismSpec, key: int, data: bytes, signature: bytes) -> bool:
        """C_VerifyInit + C_Verify: False for a signature that does not verify."""
        ffi = self.ffi
        mech = mechanism.build(ffi)
        self.check("C_VerifyInit", mech.ptr, key)
        rv = self.call("C_Verify", byte_view(ffi, data), len(data), byte_view(ffi, signature),
                       len(signature))
        if rv in (CKR_SIGNATURE_INVALID, CKR_SIGNATURE_LEN_RANGE):
            return False
        if rv != CKR_OK:
            raise error_for_rv(rv, "C_Verify")
        return True


def require_ok(rv: int, function: str) -> None:
    """Raise the sitoken error for ``rv`` unless it is CKR_OK."""
    if rv != CKR_OK:
        raise error_for_rv(rv, function)

