"""BER-TLV as cards use it (ISO 7816-4 tags of up to 3 bytes, definite lengths only)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import CardError

MAX_TAG_BYTES = 3


class MalformedResponse(CardError):
    """The card answered bytes that do not parse; the card (or the link) is faulty."""

    code = "card-malformed-response"


@dataclass(frozen=True)
class Tlv:
    """One data object: its tag number (all tag bytes, big-endian) and its value."""

    tag: int
    value: bytes

    @property
    def constructed(self) -> bool:
        return bool(_first_tag_byte(self.tag) & 0x20)


def _first_tag_byte(tag: int) -> int:
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")[0]


def _read_tag(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise MalformedResponse("TLV: missing tag")
    first = data[pos]
    tag, pos = first, pos + 1
    if first & 0x1F != 0x1F:
        return tag, pos
    for _ in range(MAX_TAG_BYTES - 1):
        if pos >= len(data):
            raise MalformedResponse("TLV: tag runs past the end")
        tag, pos = (tag << 8) | data[pos], pos + 1
        if not data[pos - 1] & 0x80:
            return tag, pos
    raise MalformedResponse("TLV: tag longer than 3 bytes")


def _read_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise MalformedResponse("TLV: missing length")
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    # 0x80 is BER's indefinite length, which card data objects never use.
    if count == 0 or count > 3 or pos + 1 + count > len(data):
        raise MalformedResponse("TLV: bad length field")
    return int.from_bytes(data[pos + 1 : pos + 1 + count], "big"), pos + 1 + count


def read_tlv(data: bytes, pos: int = 0) -> tuple[Tlv, int]:
    """The data object at ``pos`` and the position after it."""
    tag, pos = _read_tag(data, pos)
    length, pos = _read_length(data, pos)
    end = pos + length
    if end > len(data):
        raise MalformedResponse(f"TLV: value of tag {tag:X} runs past the end")
    return Tlv(tag, bytes(data[pos:end])), end


def parse_tlvs(data: bytes) -> list[Tlv]:
    """All data objects of one level."""
    items: list[Tlv] = []
    pos = 0
    while pos < len(data):
        item, pos = read_tlv(data, pos)
        items.append(item)
    return items


# Card data objects nest a few levels; a response nested deeper is hostile, not data.
MAX_DEPTH = 32


class NestedTooDeep(MalformedResponse):
    """Constructed objects nested deeper than any card answer does."""


def walk(data: bytes, _depth: int = 0) -> Iterator[Tlv]:
    """Every data object, depth first; a constructed value that does not parse is not entered."""
    if _depth > MAX_DEPTH:
        raise NestedTooDeep(f"TLV: constructed objects nested more than {MAX_DEPTH} deep")
    for item in parse_tlvs(data):
        yield item
        if item.constructed:
            try:
                children = list(walk(item.value, _depth + 1))
            except NestedTooDeep:
                raise
            except MalformedResponse:
                continue
            yield from children


def find(data: bytes, tag: int) -> bytes | None:
    """The value of the first data object with ``tag`` at any depth, or None."""
    return next((item.value for item in walk(data) if item.tag == tag), None)


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    size = (length.bit_length() + 7) // 8
    if size > 3:
        raise ValueError("TLV value too long")
    return bytes([0x80 | size]) + length.to_bytes(size, "big")


def encode_tlv(tag: int, value: bytes) -> bytes:
    tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    return tag_bytes + encode_length(len(value)) + value
