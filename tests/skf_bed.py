"""The software SKF token as a test bed (loaded as a plugin by the root conftest), and openssl's SM2 check.

Every device is new, made with the factory device key in the run's private store.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bed_support import require
from sitoken import skf
from sitoken.discovery import create_simulated_skf
from sitoken.pin import Pin
from sitoken.pubkey import spki_to_pem
from sitoken.skf import softskf
from sitoken.sm2 import DEFAULT_ID

_names = itertools.count(1)
SO_PIN = "so-pin-2468"  # the root conftest's PINs, so SKF and SoftHSM tokens answer to the same
USER_PIN = "user7pin3"


@pytest.fixture(scope="session")
def skf_library() -> str:
    path = softskf.library_path()
    require(path is not None and softskf.util_path() is not None,
            "the software SKF token (softskf/, built by scripts/setup.sh)")
    assert path is not None
    softskf.activate_store()
    return path


@pytest.fixture()
def skf_device(skf_library: str) -> str:
    """A new device with the factory device key and no application."""
    name = f"d{next(_names)}"
    softskf.create_device(name)
    return name


def new_skf_token(name: str | None = None) -> str:
    """A new device with an application of the same name: admin PIN SO_PIN (10 tries), user PIN USER_PIN (6)."""
    name = name or f"t{next(_names)}"
    with Pin(SO_PIN) as so, Pin(USER_PIN) as user:
        create_simulated_skf(name, so, user)
    return name


@pytest.fixture()
def skf_token(skf_library: str) -> Iterator[skf.SkfToken]:
    token = skf.open_token("skf", new_skf_token())
    yield token
    token.close()


def factory_key() -> skf.DeviceKey:
    return skf.DeviceKey(softskf.FACTORY_DEVICE_KEY)


def openssl_verifies(spki: bytes, data: bytes, signature: bytes, ident: bytes = DEFAULT_ID) -> bool:
    """``openssl dgst -sm3 -verify PUB -sigopt distid:ID``: OpenSSL's own Z, not sitoken's."""
    openssl = shutil.which("openssl")
    assert openssl, "the openssl CLI is part of the test bed (Debian package openssl)"
    with tempfile.TemporaryDirectory(prefix="sitoken-sm2-") as tmp:
        pub, msg, sig = Path(tmp, "pub.pem"), Path(tmp, "msg"), Path(tmp, "sig.der")
        pub.write_bytes(spki_to_pem(spki))
        msg.write_bytes(data)
        sig.write_bytes(signature)
        run = subprocess.run(
            [openssl, "dgst", "-sm3", "-verify", str(pub), "-sigopt", f"distid:{ident.decode('latin-1')}",
             "-signature", str(sig), str(msg)],
            capture_output=True, text=True, check=False,
        )
    return run.returncode == 0 and "Verified OK" in run.stdout


def self_signed_certificate(name: str = "holder", public_key: bytes | None = None) -> bytes:
    """A DER certificate to store in a slot (SKF slots keep whatever certificate they are given).

    With ``public_key`` (a DER SubjectPublicKeyInfo) it carries that key, signed by a throwaway issuer.
    """
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    subject_key = serialization.load_der_public_key(public_key) if public_key else key.public_key()
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(subject_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def openssl_verifies_certificate(issuer: Path, cert: Path, *, partial: bool = True) -> bool:
    """``openssl verify [-partial_chain] -CAfile ISSUER -vfyopt distid:1234567812345678 CERT``: one link.

    OpenSSL 3.0 gives -vfyopt's ID to the target certificate only, so an SM2 chain is checked
    link by link (shared/SKF.md section 9).
    """
    args = ["openssl", "verify", *(["-partial_chain"] if partial else []), "-CAfile", str(issuer),
            "-vfyopt", f"distid:{DEFAULT_ID.decode()}", str(cert)]
    run = subprocess.run(args, capture_output=True, text=True, check=False)
    return run.returncode == 0 and run.stdout.strip().endswith(": OK")
