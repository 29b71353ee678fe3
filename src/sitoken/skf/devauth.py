"""Device authentication (SKF_DevAuth) with the device key, which a counter keeps as a secret."""

from __future__ import annotations

import os
from typing import Any

from .. import safefiles
from ..errors import InvalidInput, SkfError
from ..sm2 import sm4
from .binding import SkfLibrary
from .constants import SAR_BY_NAME, SAR_OK, SGD_SM4_ECB
from .errors import error_for_sar

CHALLENGE = 8
BLOCK = 16


class DeviceKey:
    """A 16-byte device authentication key in a wipeable buffer; it never prints."""

    __slots__ = ("_buf",)

    def __init__(self, value: bytes | bytearray) -> None:
        if len(value) != BLOCK:
            raise InvalidInput("a device authentication key is 16 bytes (32 hex digits)")
        self._buf = bytearray(value)

    @classmethod
    def from_text(cls, text: str) -> DeviceKey:
        """32 hex digits (one trailing newline allowed), as kept in a file or a variable."""
        try:
            return cls(bytes.fromhex(text.strip()))
        except ValueError:
            raise InvalidInput("a device authentication key is written as 32 hex digits") from None

    @classmethod
    def from_file(cls, path: str) -> DeviceKey:
        """From a file only its owner can read or write (refused otherwise, like a PIN file)."""
        raw = safefiles.read_secret(path, "device key")
        try:
            return cls.from_text(raw.decode("ascii"))
        except UnicodeDecodeError:
            raise InvalidInput("a device authentication key is written as 32 hex digits") from None
        finally:
            raw[:] = bytes(len(raw))

    @classmethod
    def from_env(cls, variable: str) -> DeviceKey:
        value = os.environ.get(variable)
        if value is None:
            raise InvalidInput(f"the environment variable {variable} (for the device key) is not set")
        return cls.from_text(value)

    def reveal(self) -> bytes:
        return bytes(self._buf)

    def copy(self) -> DeviceKey:
        """Another buffer with the same key (a token wipes the one it was given when it closes)."""
        return DeviceKey(self._buf)

    def wipe(self) -> None:
        for i in range(len(self._buf)):
            self._buf[i] = 0

    def __repr__(self) -> str:
        return "DeviceKey(<redacted>)"

    __str__ = __repr__


def authenticate(library: SkfLibrary, device: Any, key: DeviceKey, algorithm: int) -> None:
    """GenRandom(8), pad with zeros to 16, encrypt in ECB under the device key, SKF_DevAuth (SKF.md 1.1).

    SM4 is computed on the host; SM1 and SSF33 are not public algorithms, so the token does
    them (SetSymmKey, EncryptInit, Encrypt).
    """
    challenge = library.buffer(CHALLENGE)
    library.call("SKF_GenRandom", device, challenge, CHALLENGE)
    block = bytes(library.ffi.buffer(challenge)) + b"\0" * (BLOCK - CHALLENGE)
    if algorithm == SGD_SM4_ECB:
        answer = sm4.encrypt(key.reveal(), block)
    else:
        answer = _on_token(library, device, key, algorithm, block)
    rv = library.raw("SKF_DevAuth", device, answer, len(answer))
    if rv == SAR_BY_NAME["SAR_FAIL"]:
        raise SkfError("the device refused its authentication key (SKF_DevAuth: SAR_FAIL): wrong device key?",
                       rv=rv, function="SKF_DevAuth")
    if rv != SAR_OK:
        raise error_for_sar(rv, "SKF_DevAuth")


def _on_token(library: SkfLibrary, device: Any, key: DeviceKey, algorithm: int, block: bytes) -> bytes:
    handle = library.out_handle()
    library.call("SKF_SetSymmKey", device, key.reveal(), algorithm, handle)
    try:
        param = library.ffi.new("BLOCKCIPHERPARAM *")  # no IV, no padding: one ECB block
        library.call("SKF_EncryptInit", handle[0], param[0])
        return library.into("SKF_Encrypt", handle[0], block, len(block), capacity=BLOCK)
    finally:
        library.raw("SKF_CloseHandle", handle[0])
