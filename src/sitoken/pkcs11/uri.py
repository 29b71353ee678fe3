"""RFC 7512 PKCS#11 URIs: parse the ones users pass, write the ones sitoken prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote, unquote_to_bytes

from ..errors import InvalidInput

#: Path attributes of RFC 7512 §2.3 that sitoken understands.
PATH_ATTRIBUTES = frozenset(
    {
        "token", "manufacturer", "serial", "model", "library-manufacturer",
        "library-description", "library-version", "slot-description", "slot-manufacturer",
        "slot-id", "object", "type", "id",
    }
)
QUERY_ATTRIBUTES = frozenset({"pin-source", "pin-value", "module-name", "module-path"})
_SAFE = "-._~:[]@!$'()*+,=&/"  # pchar without the ';' and '?' separators


@dataclass(frozen=True)
class Pkcs11Uri:
    """The attributes of a ``pkcs11:`` URI (values percent-decoded).

    ``pin-value`` is refused outright: a PIN does not belong in a URI that ends
    up in shell history and process lists.
    """

    path: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)

    @property
    def token(self) -> str | None:
        return self.path.get("token")

    @property
    def serial(self) -> str | None:
        return self.path.get("serial")

    @property
    def object_label(self) -> str | None:
        return self.path.get("object")

    @property
    def object_id(self) -> bytes | None:
        raw = self.path.get("id")
        return None if raw is None else raw.encode("latin-1")

    def matches_token(self, label: str, serial: str, manufacturer: str, model: str) -> bool:
        wanted = {"token": label, "serial": serial, "manufacturer": manufacturer, "model": model}
        return all(self.path[k] == v for k, v in wanted.items() if k in self.path)


def parse_uri(text: str) -> Pkcs11Uri:
    if not text.startswith("pkcs11:"):
        raise InvalidInput("a PKCS#11 URI starts with 'pkcs11:'")
    try:
        # Bytes in argv that are not UTF-8 arrive as lone surrogates, which the
        # percent-decoding below cannot encode.
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("the PKCS#11 URI is not valid UTF-8 text") from None
    body = text[len("pkcs11:"):]
    path_part, _, query_part = body.partition("?")
    path = _attributes(path_part, ";", PATH_ATTRIBUTES)
    query = _attributes(query_part, "&", QUERY_ATTRIBUTES)
    if "pin-value" in query:
        raise InvalidInput("PINs are not accepted inside a PKCS#11 URI; use --pin-env or --pin-file")
    return Pkcs11Uri(path, query)


def _attributes(part: str, separator: str, known: frozenset[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, part.split(separator)):
        name, eq, value = item.partition("=")
        if not eq:
            raise InvalidInput(f"PKCS#11 URI attribute {name!r} has no value")
        if name not in known and not name.startswith("x-"):
            raise InvalidInput(f"unknown PKCS#11 URI attribute {name!r}")
        if name in out:
            raise InvalidInput(f"PKCS#11 URI attribute {name!r} is repeated")
        # id is binary; the rest are UTF-8 text.
        raw = unquote_to_bytes(value)
        out[name] = raw.decode("latin-1") if name == "id" else _utf8(raw, name)
    return out


def _utf8(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"PKCS#11 URI attribute {name!r} is not UTF-8") from None


def token_uri(label: str, serial: str, manufacturer: str, model: str) -> str:
    parts = (("model", model), ("manufacturer", manufacturer), ("serial", serial), ("token", label))
    return "pkcs11:" + ";".join(f"{k}={quote(v, safe=_SAFE)}" for k, v in parts)


def object_uri(token: str, label: str, key_id: bytes, kind: str) -> str:
    encoded_id = "".join(f"%{b:02x}" for b in key_id)
    return (
        f"pkcs11:token={quote(token, safe=_SAFE)};object={quote(label, safe=_SAFE)};"
        f"id={encoded_id};type={kind}"
    )
