"""PKCS#12 (.p12/.pfx) files: the private key, the holder's certificate and the CA certificates they carry."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidInput
from .sniff import expected, kind_of


@dataclass(frozen=True)
class Pkcs12Contents:
    key_pkcs8: bytes  # the private key, PKCS#8 DER, unencrypted: hand it to the token and drop it
    certificate: bytes | None
    chain: tuple[bytes, ...]

    def __repr__(self) -> str:
        return f"Pkcs12Contents(certificate={self.certificate is not None}, chain={len(self.chain)}, key=<hidden>)"


def load_pkcs12(data: bytes, password: bytes | None) -> Pkcs12Contents:
    """Open a PKCS#12 file; a wrong password and a file of another kind are told apart."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    if kind_of(data) != "a PKCS#12 file":
        raise expected("a PKCS#12 file", data)
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password or None)
    except ValueError:
        raise InvalidInput("cannot open the PKCS#12 file: the password is wrong (or the file is damaged)") from None
    if key is None:
        raise InvalidInput("the PKCS#12 file holds no private key (only certificates: use cert import)")
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    der = cert.public_bytes(serialization.Encoding.DER) if cert is not None else None
    return Pkcs12Contents(pkcs8, der, tuple(c.public_bytes(serialization.Encoding.DER) for c in extra))
