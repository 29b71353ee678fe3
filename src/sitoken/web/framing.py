"""Native-messaging framing: a 32-bit length in native byte order, then UTF-8 JSON."""

from __future__ import annotations

import json
import struct
from typing import BinaryIO

from ..errors import InvalidInput

#: The browser refuses a host message over 1 MB (Chrome's documentation).
MAX_TO_BROWSER = 1024 * 1024
#: Requests are small (a nonce, a hash, a certificate); the browser allows up to 64 MiB, the
#: host reads no more than this and stops on anything larger.
MAX_FROM_BROWSER = 1024 * 1024
_LENGTH = struct.Struct("=I")


class FramingError(InvalidInput):
    """The stream is not native-messaging frames any more (truncated, oversized): the host stops."""

    code = "framing"


class BadMessage(InvalidInput):
    """One frame held no JSON object; the stream is still in step, so the host answers and goes on."""

    code = "bad-message"


def read_message(stream: BinaryIO, limit: int = MAX_FROM_BROWSER) -> object | None:
    """The next message, or None at a clean end of the stream (the browser closed the port)."""
    header = _read_exactly(stream, _LENGTH.size, allow_eof=True)
    if header is None:
        return None
    (length,) = _LENGTH.unpack(header)
    if length > limit:
        raise FramingError(f"a message of {length} bytes is over the {limit}-byte limit")
    body = _read_exactly(stream, length, allow_eof=False)
    assert body is not None
    try:
        message: object = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadMessage("the message is not UTF-8 JSON") from None
    return message


def encode_message(message: object) -> bytes:
    """One frame; InvalidInput when the browser would refuse it (over 1 MB)."""
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(body) > MAX_TO_BROWSER:
        raise InvalidInput(f"the answer has {len(body)} bytes; the browser takes at most {MAX_TO_BROWSER}")
    return _LENGTH.pack(len(body)) + body


def write_message(stream: BinaryIO, message: object) -> None:
    stream.write(encode_message(message))
    stream.flush()


def _read_exactly(stream: BinaryIO, size: int, *, allow_eof: bool) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            if allow_eof and not data:
                return None
            raise FramingError(f"the stream ended inside a message ({len(data)} of {size} bytes)")
        data += chunk
    return data
