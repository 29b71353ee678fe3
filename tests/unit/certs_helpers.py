"""Shared helpers for the certificate and CMS unit tests: cached keys, a cached CA, openssl."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import pytest

from sitoken.certs import LocalCA, SoftwareSigner, to_pem
from sitoken.token import KeyType, Mechanism

SUBJECT = "CN=张三,OU=Individual-1,O=某社保中心,C=CN"

# (key type, mechanism) pairs every builder must handle; ids read well in test names.
SIGNING_CASES = [
    pytest.param(KeyType.RSA2048, Mechanism.RSA_PKCS_SHA256, id="rsa2048-pkcs"),
    pytest.param(KeyType.RSA2048, Mechanism.RSA_PSS_SHA256, id="rsa2048-pss"),
    pytest.param(KeyType.RSA3072, Mechanism.RSA_PKCS_SHA384, id="rsa3072-pkcs384"),
    pytest.param(KeyType.EC_P256, Mechanism.ECDSA_SHA256, id="p256"),
    pytest.param(KeyType.EC_P384, Mechanism.ECDSA_SHA384, id="p384"),
    pytest.param(KeyType.ED25519, Mechanism.EDDSA, id="ed25519"),
]


@functools.cache
def signer(key_type: KeyType = KeyType.EC_P256, n: int = 0) -> SoftwareSigner:
    """A software key per (type, n), generated once per test run: RSA keys are slow to make."""
    return SoftwareSigner.generate(key_type)


def openssl(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run openssl; the test asserts on returncode and output."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed; the interop tests need it")
    return subprocess.run(["openssl", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=60, check=False)


def write_pem(path: Path, ders: list[bytes] | tuple[bytes, ...]) -> Path:
    path.write_bytes(to_pem(list(ders)))
    return path


@functools.cache
def _ca_dir(key_type: KeyType, with_intermediate: bool) -> Path:
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="sitoken-ca-")) / "ca"
    LocalCA.init(directory, key_type=key_type, with_intermediate=with_intermediate)
    return directory


def shared_ca(key_type: KeyType = KeyType.EC_P256, with_intermediate: bool = True) -> LocalCA:
    """A CA shared by tests that only issue from it; tests that inspect files make their own."""
    return LocalCA.open(_ca_dir(key_type, with_intermediate))
