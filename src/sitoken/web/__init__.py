"""The web channel: nonces and authentication-token verification for portals, and the native host."""

from __future__ import annotations

from .challenge import FORMAT, auth_value, authentication_token, check_nonce, check_origin
from .identity import Identity, identity_from_certificate
from .nonces import NonceStore
from .verify import AuthenticationFailed, AuthTokenVerifier

__all__ = [
    "FORMAT",
    "AuthTokenVerifier",
    "AuthenticationFailed",
    "Identity",
    "NonceStore",
    "auth_value",
    "authentication_token",
    "check_nonce",
    "check_origin",
    "identity_from_certificate",
]
