"""What the host signs to authenticate: hash(origin) ‖ hash(nonce), the same on both sides."""

from __future__ import annotations

import base64
import binascii
import hashlib
from urllib.parse import urlsplit

from .._version import __version__
from ..algorithms import Mechanism
from ..errors import InvalidInput, NotSupported
from ..token import Token

#: The ``format`` of an authentication token this code makes and accepts.
FORMAT = "sitoken-auth:1"
#: Hosts that may use plain HTTP: a developer's own machine, never a network name.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
MAX_ORIGIN = 255
MIN_NONCE_BYTES, MAX_NONCE_TEXT = 32, 512
#: The page names a document's hash as WebCrypto does (and SM3, which WebCrypto lacks); sitoken's
#: hash names beside them. For SM2 the "hash" is e = SM3(Z ‖ M): Z binds the signer's key and ID.
PAGE_HASH_NAMES = {"SHA-256": "sha256", "SHA-384": "sha384", "SM3": "sm3"}


def _hash(mechanism: Mechanism, data: bytes) -> bytes:
    # EdDSA hashes inside the signature; its two inputs are still fixed-size SHA-256 digests.
    return hashlib.new(mechanism.hash_name or "sha256", data).digest()


def auth_value(origin: str, nonce: str, mechanism: Mechanism) -> bytes:
    """The bytes the token signs with ``mechanism``: hash(origin) ‖ hash(nonce), UTF-8 text both.

    The hash is the mechanism's own (SHA-256/384, SM3 for SM2), so the signature binds the
    origin and the nonce with the strength of the key.
    """
    return _hash(mechanism, check_origin(origin).encode("utf-8")) + _hash(mechanism, nonce.encode("utf-8"))


def check_origin(origin: str) -> str:
    """``origin`` if it is a serialised web origin sitoken answers (HTTPS, or HTTP on loopback)."""
    if not isinstance(origin, str) or not origin or len(origin) > MAX_ORIGIN:
        raise InvalidInput("the origin is missing or too long")
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        raise InvalidInput(f"not a web origin: {origin!r}") from None
    host = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
    if parts.path or parts.query or parts.fragment or "@" in parts.netloc or not host \
            or origin != origin.strip() or origin != f"{parts.scheme}://{parts.netloc}":
        raise InvalidInput(f"not a web origin (scheme://host[:port] only): {origin!r}")
    if parts.scheme == "https" or (parts.scheme == "http" and host.lower() in LOOPBACK_HOSTS):
        return origin
    raise InvalidInput(f"only HTTPS origins (and http on localhost) are answered: {origin!r}")


def check_nonce(nonce: object) -> str:
    """``nonce`` if it is base64 text of at least 32 bytes: a portal's nonce, not a page's choice of data."""
    if not isinstance(nonce, str) or not nonce or len(nonce) > MAX_NONCE_TEXT:
        raise InvalidInput("the nonce must be base64 text of at least 32 bytes")
    try:
        size = len(base64.b64decode(nonce, validate=True))
    except (binascii.Error, ValueError):
        raise InvalidInput("the nonce is not base64 text") from None
    if size < MIN_NONCE_BYTES:
        raise InvalidInput(f"the nonce has {size} bytes; at least {MIN_NONCE_BYTES} are needed")
    return nonce


def authentication_token(token: Token, key: str, certificate: bytes, origin: str, nonce: str) -> dict[str, str]:
    """Sign hash(origin) ‖ hash(nonce) with ``key`` (the token is logged in): the token a portal verifies."""
    key_type = token.find_key(key).key_type
    if key_type is None:
        raise NotSupported(f"key {key!r} has a type sitoken cannot sign with")
    mechanism = key_type.default_mechanism
    signature = token.sign(key, auth_value(origin, check_nonce(nonce), mechanism), mechanism)
    return {
        "unverifiedCertificate": base64.b64encode(certificate).decode("ascii"),
        "algorithm": mechanism.value,
        "signature": base64.b64encode(signature).decode("ascii"),
        "format": FORMAT,
        "appVersion": f"sitoken/{__version__}",
    }
