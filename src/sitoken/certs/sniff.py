"""What a file holds, in plain words, so a parse failure says what it got and what it expected.

The parsers underneath (asn1crypto, cryptography's Rust code) fail with their own internals
("Error parsing asn1crypto.x509.TbsCertificate", "Extra data - 199974 bytes of trailing data",
``ParseError { kind: UnexpectedTag … }``). These helpers look at the outer DER shape or the PEM
label instead, which is enough to tell a certificate from a request, a key or a PKCS#12 file.
"""

from __future__ import annotations

import re

from asn1crypto import parser

from ..errors import InvalidInput

_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----")
_PEM_END = re.compile(rb"-----END [A-Z0-9 #]+-----")
_PEM_KINDS = {
    b"CERTIFICATE": "a certificate", b"TRUSTED CERTIFICATE": "a certificate",
    b"CERTIFICATE REQUEST": "a certificate request", b"NEW CERTIFICATE REQUEST": "a certificate request",
    b"PRIVATE KEY": "a private key", b"RSA PRIVATE KEY": "a private key", b"EC PRIVATE KEY": "a private key",
    b"ENCRYPTED PRIVATE KEY": "an encrypted private key", b"PUBLIC KEY": "a public key",
    b"PKCS7": "CMS/PKCS#7 data", b"CMS": "CMS/PKCS#7 data", b"X509 CRL": "a certificate revocation list",
    b"PKCS12": "a PKCS#12 file",
}
_INTEGER, _BIT_STRING, _OCTET_STRING, _OID, _SEQUENCE = 2, 3, 4, 6, 16
_CONTEXT = 2


def kind_of(data: bytes) -> str:
    """A short description of ``data``: 'a certificate request (DER)', 'a PKCS#12 file', 'text'…"""
    if not data.strip():
        return "empty"
    begin = _PEM_BEGIN.search(data)
    if begin:
        kind = _PEM_KINDS.get(begin.group(1), f"PEM text labelled {begin.group(1).decode()}")
        return kind + " (PEM)" + _pem_trailer(data)
    if data[:1] == b"\x30":
        der_kind = _der_kind(data)
        if der_kind is not None:
            extra = trailing_bytes(data)
            return der_kind + (" (DER)" if "PKCS#12" not in der_kind else "") + (
                f" followed by {extra} more bytes" if extra else "")
        try:
            parser.peek(data)
        except (ValueError, TypeError):
            return "DER data that ends early (truncated?)"
        return "DER data of another kind"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data that is neither DER nor PEM"
    return "text that is neither PEM nor base64"


def trailing_bytes(der: bytes) -> int:
    """How many bytes follow the first complete DER object (0 when none, or when it does not parse)."""
    try:
        return max(len(der) - int(parser.peek(der)), 0)
    except (ValueError, TypeError):
        return 0


def _pem_trailer(data: bytes) -> str:
    ends = list(_PEM_END.finditer(data))
    rest = data[ends[-1].end():].strip() if ends else b""
    return f" with {len(rest)} bytes of other text after its END line" if rest else ""


def expected(what: str, data: bytes, *, hint: str = "") -> InvalidInput:
    """The error for input that is not ``what``: says what it is instead, never a parser's text."""
    kind = kind_of(data)
    if kind == what or kind.startswith(what + " ("):
        # The right kind, yet it does not parse: say that, and the trailing-data case when it is one.
        extra = trailing_bytes(data) if data[:1] == b"\x30" else 0
        reason = (f"{extra} bytes follow the end of the DER data (two files joined?)" if extra
                  else "it is damaged or truncated")
        return InvalidInput(f"{what} was expected and this looks like one, but {reason}")
    return InvalidInput(f"expected {what}, but the file is {kind}" + (f"; {hint}" if hint else ""))


def _children(contents: bytes) -> list[tuple[int, int, int, bytes]]:
    """(class, method, tag, contents) of each element of a constructed value's contents."""
    out, pointer = [], 0
    while pointer < len(contents):
        size = parser.peek(contents[pointer:])
        cls, method, tag, _header, inner, _trailer = parser.parse(contents[pointer:pointer + size])
        out.append((cls, method, tag, inner))
        pointer += size
    return out


def _der_kind(der: bytes) -> str | None:
    try:
        return _classify(der)
    except (ValueError, TypeError, IndexError):  # damaged inside: not recognisable as any kind
        return None


def _classify(der: bytes) -> str | None:
    _cls, _method, tag, _h, contents, _t = parser.parse(der[:parser.peek(der)])
    items = _children(contents) if tag == _SEQUENCE else []
    tags = [(c[0], c[2]) for c in items]
    if not tags:
        return None
    if tags[0] == (0, _OID):
        return "CMS/PKCS#7 data"
    if tags[0] == (0, _INTEGER):
        return _versioned_kind(items)
    if tags == [(0, _SEQUENCE), (0, _BIT_STRING)]:
        return "a public key"
    if tags == [(0, _SEQUENCE), (0, _OCTET_STRING)]:
        return "an encrypted private key"
    if tags == [(0, _SEQUENCE), (0, _SEQUENCE), (0, _BIT_STRING)]:
        return _signed_kind(items[0][3])
    return None


def _versioned_kind(items: list[tuple[int, int, int, bytes]]) -> str | None:
    version = int.from_bytes(items[0][3], "big") if items[0][3] else 0
    shapes = [(c[0], c[2]) for c in items[1:3]]
    if version == 3 and shapes[:1] == [(0, _SEQUENCE)]:
        return "a PKCS#12 file"
    if version == 0 and shapes == [(0, _SEQUENCE), (0, _OCTET_STRING)]:
        return "a private key"
    if version == 0 and all(c[2] == _INTEGER for c in items) and len(items) >= 9:
        return "a private key"
    if version == 1 and shapes[:1] == [(0, _OCTET_STRING)]:
        return "a private key"
    return None


def _signed_kind(to_be_signed: bytes) -> str:
    fields = _children(to_be_signed)
    if len(fields) == 4 and fields[0][2] == _INTEGER and (fields[3][0], fields[3][2]) == (_CONTEXT, 0):
        return "a certificate request"
    if (fields and (fields[0][0], fields[0][2]) == (_CONTEXT, 0)) or len(fields) >= 6:
        return "a certificate"
    return "a certificate revocation list"
