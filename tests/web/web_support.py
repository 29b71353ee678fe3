"""Holders for the web tests: a SoftHSM key with a certificate from a local CA, per the default profiles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sitoken.certs import LocalCA, build_csr, text_extension
from sitoken.certs.ontoken import TokenSigner
from sitoken.token import KeyType, Token

# A resident ID number and a credit code with valid check characters (GB 11643, GB 32100).
ID_NUMBER = "11010519491231002X"
CREDIT_CODE = "91350100M000100Y43"
PERSONAL = f"CN=张三,serialNumber={ID_NUMBER},OU=Individual-1,O=Social Insurance,C=CN"
ORGANISATION = f"CN=某某有限公司,serialNumber={CREDIT_CODE},OU=Organisation-1,O=某某有限公司,C=CN"


@dataclass(frozen=True)
class Holder:
    token: Token
    key: str
    certificate: bytes
    ca: LocalCA


def make_ca(directory: Path, name: str = "sitoken Web Test CA") -> LocalCA:
    return LocalCA.init(directory, name=name)


def enrol(token: Token, ca: LocalCA, *, key: str = "auth", key_type: KeyType = KeyType.EC_P256,
          subject: str = PERSONAL, profile: str = "personal", organisation: bool = False,
          install: bool = False) -> Holder:
    """A key on ``token`` and a certificate for it from ``ca`` (the identity extension as the profiles put it)."""
    token.generate_key(key_type, key)
    extension = (text_extension("1.2.156.10260.4.4", CREDIT_CODE) if organisation
                 else text_extension("1.2.156.10260.4.1.1", ID_NUMBER))
    csr = build_csr(TokenSigner(token, key), subject, extra_extensions=[extension],
                    extended_key_usage=["client_auth"])
    issued = ca.issue(csr, days=30, profile=profile)
    if install:
        token.import_certificate(issued.certificate, label=key, key_id=bytes.fromhex(token.find_key(key).id))
    return Holder(token, key, issued.certificate, ca)
