"""The attribute table (CKA -> how its value is packed and unpacked) and templates built from it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidInput
from .constants import CKA

#: How each attribute's value travels. Anything not listed is raw bytes.
_BOOL = frozenset({
    CKA.TOKEN, CKA.PRIVATE, CKA.SENSITIVE, CKA.ENCRYPT, CKA.DECRYPT, CKA.WRAP, CKA.UNWRAP,
    CKA.SIGN, CKA.VERIFY, CKA.DERIVE, CKA.EXTRACTABLE, CKA.LOCAL, CKA.NEVER_EXTRACTABLE,
    CKA.ALWAYS_SENSITIVE, CKA.MODIFIABLE, CKA.ALWAYS_AUTHENTICATE,
})
_ULONG = frozenset({
    CKA.CLASS, CKA.KEY_TYPE, CKA.CERTIFICATE_TYPE, CKA.CERTIFICATE_CATEGORY, CKA.MODULUS_BITS,
})
_TEXT = frozenset({CKA.LABEL})

Template = Mapping[int, Any]


def kind(attribute: int) -> str:
    """bool, ulong, text or bytes."""
    if attribute in _BOOL:
        return "bool"
    if attribute in _ULONG:
        return "ulong"
    return "text" if attribute in _TEXT else "bytes"


def pack(ffi: Any, attribute: int, value: Any) -> tuple[Any, int]:
    """A cdata buffer holding ``value`` as the module expects it, and its length in bytes.

    The length is counted here, never taken from ``ffi.sizeof``: that gives a pointer's size
    for ``T *`` and counts the NUL cffi appends to a byte string.
    """
    how = kind(attribute)
    if how == "bool":
        return ffi.new("CK_BBOOL *", 1 if value else 0), ffi.sizeof("CK_BBOOL")
    if how == "ulong":
        return ffi.new("CK_ULONG *", int(value)), ffi.sizeof("CK_ULONG")
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return (ffi.new("CK_BYTE[]", raw), len(raw)) if raw else (None, 0)


def unpack(ffi: Any, attribute: int, raw: bytes) -> Any:
    """The Python value of an attribute read back from a module."""
    how = kind(attribute)
    if how == "bool":
        return raw[:1] not in (b"", b"\0")
    if how == "ulong":
        if len(raw) != ffi.sizeof("CK_ULONG"):
            raise InvalidInput(f"attribute 0x{attribute:X} is not a CK_ULONG ({len(raw)} bytes)")
        return int(ffi.cast("CK_ULONG *", ffi.from_buffer(raw))[0])
    if how == "text":
        return raw.decode("utf-8", errors="replace")
    return raw


class CTemplate:
    """A ``CK_ATTRIBUTE[]`` for a template, owning the buffers its entries point to."""

    def __init__(self, ffi: Any, template: Template) -> None:
        items = list(template.items())
        self.count = len(items)
        self.array = ffi.new("CK_ATTRIBUTE[]", max(self.count, 1))
        self._buffers: list[Any] = []
        for i, (attribute, value) in enumerate(items):
            buf, length = pack(ffi, attribute, value)
            self._buffers.append(buf)
            self.array[i].type = int(attribute)
            self.array[i].pValue = ffi.NULL if buf is None else buf
            self.array[i].ulValueLen = length
