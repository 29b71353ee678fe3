"""Holders for the web tests: a SoftHSM key with a certificate from a local CA, per the default profiles."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sitoken.certs import LocalCA
from sitoken.token import KeyType, Token
from sitoken.web.demo import DEMO_ID_NUMBER, DEMO_SUBJECT, enrol_holder

# A resident ID number and a credit code with valid check characters (GB 11643, GB 32100).
ID_NUMBER = DEMO_ID_NUMBER
CREDIT_CODE = "91350100M000100Y43"
PERSONAL = DEMO_SUBJECT
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
    extension = ("1.2.156.10260.4.4", CREDIT_CODE) if organisation else ("1.2.156.10260.4.1.1", ID_NUMBER)
    certificate = enrol_holder(token, ca, key=key, key_type=key_type, subject=subject, profile=profile,
                               identity_extension=extension, install=install, days=30)
    return Holder(token, key, certificate, ca)


def host_environment(**extra: str) -> dict[str, str]:
    """The environment for the hosts a test starts (a browser starts one per request): Python's
    bytecode cached in the run's own directory, so each host after the first skips compiling sitoken."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    # The test bed's directory (tests/conftest.py), removed at the end of the run.
    env["PYTHONPYCACHEPREFIX"] = str(Path(os.environ["SITOKEN_SIM_DIR"]).parent / "pycache")
    return {**env, **extra}
