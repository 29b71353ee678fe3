"""Distinguished names: an RFC 4514 parser and formatter over DER Name encodings."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import core

from ..errors import InvalidInput

# Keyword <-> OID table. Output uses the first keyword listed for an OID; the
# parser also accepts the aliases. Keywords compare case-insensitively (RFC 4512).
_KEYWORDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("2.5.4.3", "CN", ("commonName",)),
    ("2.5.4.4", "SN", ("surname",)),
    ("2.5.4.5", "serialNumber", ()),
    ("2.5.4.6", "C", ("countryName",)),
    ("2.5.4.7", "L", ("localityName",)),
    ("2.5.4.8", "ST", ("stateOrProvinceName", "S")),
    ("2.5.4.9", "STREET", ("streetAddress",)),
    ("2.5.4.10", "O", ("organizationName",)),
    ("2.5.4.11", "OU", ("organizationalUnitName",)),
    ("2.5.4.12", "title", ()),
    ("2.5.4.17", "postalCode", ()),
    ("2.5.4.42", "GN", ("givenName",)),
    ("2.5.4.43", "initials", ()),
    ("2.5.4.46", "dnQualifier", ()),
    ("2.5.4.65", "pseudonym", ()),
    ("2.5.4.97", "organizationIdentifier", ()),
    ("0.9.2342.19200300.100.1.1", "UID", ("userId",)),
    ("0.9.2342.19200300.100.1.25", "DC", ("domainComponent",)),
    ("1.2.840.113549.1.9.1", "emailAddress", ("E", "email")),
)
_OID_BY_KEYWORD = {
    kw.lower(): oid for oid, main, aliases in _KEYWORDS for kw in (main, *aliases)
}
_KEYWORD_BY_OID = {oid: main for oid, main, _ in _KEYWORDS}

# String type per attribute (RFC 5280 appendix A); anything else is UTF8String.
_PRINTABLE = frozenset({"2.5.4.5", "2.5.4.6", "2.5.4.46"})
_IA5 = frozenset({"1.2.840.113549.1.9.1", "0.9.2342.19200300.100.1.25"})
# RFC 5280 upper bounds, in characters, for the attributes applicants fill in.
_MAX_LENGTH = {
    "2.5.4.3": 64, "2.5.4.10": 64, "2.5.4.11": 64, "2.5.4.5": 64,
    "2.5.4.7": 128, "2.5.4.8": 128, "1.2.840.113549.1.9.1": 255,
}

_PRINTABLE_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?"
)
_SPECIAL = '"+,;<>\\'
_KEYWORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_OID_RE = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+")
_HEX_RE = re.compile(r"[0-9A-Fa-f]{2}")
_HEX_VALUE_RE = re.compile(r"(?:[0-9A-Fa-f]{2})+")

# Universal string tags a value may carry, and how to decode them for display.
_STRING_CODECS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x12: "ascii", 0x1A: "ascii",
                  0x14: "latin-1", 0x1E: "utf-16-be", 0x1C: "utf-32-be"}


class _TypeAndValue(core.Sequence):  # type: ignore[misc]
    # asn1crypto reads this class attribute as the field list.
    _fields = [("type", core.ObjectIdentifier), ("value", core.Any)]  # noqa: RUF012


class _RDN(core.SetOf):  # type: ignore[misc]
    _child_spec = _TypeAndValue


class _RDNSequence(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _RDN


@dataclass(frozen=True)
class NameAttribute:
    """One attribute of a name: its dotted OID and either text or a raw DER value."""

    oid: str
    value: str | None = None
    value_der: bytes | None = None  # from an RFC 4514 "#hex" value

    @property
    def keyword(self) -> str:
        return _KEYWORD_BY_OID.get(self.oid, self.oid)


# ---------------------------------------------------------------------------- parsing


class _Parser:
    """Reads an RFC 4514 string left to right; positions in errors are 0-based."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, why: str) -> InvalidInput:
        return InvalidInput(f"distinguished name {self.text!r}: {why} (at position {self.pos})")

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def parse(self) -> list[list[NameAttribute]]:
        rdns: list[list[NameAttribute]] = []
        if not self.text.strip():
            return rdns
        current: list[NameAttribute] = []
        while True:
            current.append(self.attribute())
            if self.at_end():
                rdns.append(current)
                return rdns
            sep = self.text[self.pos]
            self.pos += 1
            if sep == ",":
                rdns.append(current)
                current = []

    def attribute(self) -> NameAttribute:
        oid = self.attribute_type()
        if self.text.startswith("#", self.pos):
            return NameAttribute(oid, value_der=self.hex_value())
        return NameAttribute(oid, value=check_value(oid, self.string_value()))

    def attribute_type(self) -> str:
        end = self.text.find("=", self.pos)
        if end < 0:
            raise self.fail("expected TYPE=value")
        word = self.text[self.pos : end].strip()
        self.pos = end + 1
        while self.text.startswith(" ", self.pos):
            self.pos += 1
        if _OID_RE.fullmatch(word):
            return word
        if _KEYWORD_RE.fullmatch(word) and word.lower() in _OID_BY_KEYWORD:
            return _OID_BY_KEYWORD[word.lower()]
        raise self.fail(f"unknown attribute type {word!r} (use a keyword or a dotted OID)")

    def hex_value(self) -> bytes:
        self.pos += 1
        start = self.pos
        while not self.at_end() and self.text[self.pos] not in ",+":
            self.pos += 1
        digits = self.text[start : self.pos].rstrip(" ")
        if not _HEX_VALUE_RE.fullmatch(digits):
            raise self.fail("a '#' value must be an even number of hex digits")
        der = bytes.fromhex(digits)
        try:
            core.load(der, strict=True).native  # noqa: B018 - forces a full parse so bad DER fails here
        except Exception as exc:  # asn1crypto raises assorted built-in errors on bad DER
            raise self.fail(f"the '#' value is not one DER element ({exc})") from None
        return der

    def string_value(self) -> str:
        buf = bytearray()
        significant = 0  # length of buf up to the last char that is not an unescaped space
        while not self.at_end():
            ch = self.text[self.pos]
            if ch in ",+":
                break
            self.pos += 1
            if ch == "\\":
                buf += self.escape()
                significant = len(buf)
            elif ch in _SPECIAL or ch == "\x00":
                raise self.fail(f"character {ch!r} must be escaped with a backslash")
            else:
                buf += ch.encode("utf-8")
                if ch != " ":
                    significant = len(buf)
        try:
            return bytes(buf[:significant]).decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("escaped bytes are not valid UTF-8") from None

    def escape(self) -> bytes:
        pair = self.text[self.pos : self.pos + 2]
        if _HEX_RE.fullmatch(pair):
            self.pos += 2
            return bytes.fromhex(pair)
        if pair and pair[0] in _SPECIAL + " #=":
            self.pos += 1
            return pair[0].encode("ascii")
        raise self.fail("a backslash must be followed by a special character or two hex digits")


def check_value(oid: str, value: str) -> str:
    """Reject a value its attribute type cannot carry, before it reaches a CA."""
    name = _KEYWORD_BY_OID.get(oid, oid)
    if not value:
        raise InvalidInput(f"distinguished name: {name} is empty")
    limit = _MAX_LENGTH.get(oid)
    if limit is not None and len(value) > limit:
        raise InvalidInput(f"distinguished name: {name} is longer than {limit} characters")
    if oid == "2.5.4.6" and not (len(value) == 2 and value.isascii() and value.isalpha()):
        raise InvalidInput(f"distinguished name: C must be a two-letter code, not {value!r}")
    if oid in _PRINTABLE and not set(value) <= _PRINTABLE_CHARS:
        raise InvalidInput(f"distinguished name: {name} allows only A-Z, a-z, 0-9 and ' ()+,-./:=?")
    if oid in _IA5 and not value.isascii():
        raise InvalidInput(f"distinguished name: {name} must be ASCII")
    return value


def parse_name(text: str) -> list[list[NameAttribute]]:
    """The RDNs of an RFC 4514 string, in string order (most specific first)."""
    return _Parser(text).parse()


def _value_element(attr: NameAttribute) -> core.Asn1Value:
    if attr.value_der is not None:
        return core.load(attr.value_der)
    assert attr.value is not None
    if attr.oid in _PRINTABLE:
        return core.PrintableString(attr.value)
    if attr.oid in _IA5:
        return core.IA5String(attr.value)
    return core.UTF8String(attr.value)


def encode_name(rdns: Sequence[Sequence[NameAttribute]]) -> bytes:
    """DER Name; the RFC 4514 order is reversed, as the RFC prescribes."""
    sequence = _RDNSequence(
        [_RDN([_TypeAndValue({"type": a.oid, "value": _value_element(a)}) for a in rdn])
         for rdn in reversed(rdns)]
    )
    return bytes(sequence.dump())


def name_der(text: str) -> bytes:
    """DER Name for an RFC 4514 string."""
    return encode_name(parse_name(text))


# ---------------------------------------------------------------------------- formatting


def _display_value(value_der: bytes) -> str | None:
    codec = _STRING_CODECS.get(value_der[0]) if value_der else None
    if codec is None:
        return None
    try:
        contents = core.load(value_der).contents
        return bytes(contents or b"").decode(codec)
    except (ValueError, UnicodeDecodeError):
        return None


def _escape(value: str) -> str:
    out = []
    for i, ch in enumerate(value):
        if ch in _SPECIAL or (ch == "#" and i == 0) or (
            ch == " " and i in (0, len(value) - 1)
        ):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            # Control characters would garble a terminal; hex keeps them round-trippable.
            out.append(f"\\{ord(ch):02X}")
        else:
            out.append(ch)
    return "".join(out)


def decode_name(der: bytes) -> list[list[NameAttribute]]:
    """The RDNs of a DER Name, in RFC 4514 order (most specific first)."""
    rdns = _RDNSequence.load(der)
    out: list[list[NameAttribute]] = []
    for rdn in reversed(list(rdns)):
        attrs = []
        for atv in rdn:
            value_der = atv["value"].dump()
            attrs.append(NameAttribute(atv["type"].dotted, _display_value(value_der), value_der))
        out.append(attrs)
    return out


def format_name(der: bytes) -> str:
    """RFC 4514 text for a DER Name; text values stay readable (UTF-8, not escaped)."""
    parts = []
    for rdn in decode_name(der):
        items = []
        for attr in rdn:
            if attr.value is not None:
                items.append(f"{attr.keyword}={_escape(attr.value)}")
            else:
                items.append(f"{attr.keyword}=#{(attr.value_der or b'').hex().upper()}")
        parts.append("+".join(items))
    return ",".join(parts)
