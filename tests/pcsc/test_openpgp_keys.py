"""Keys on the emulated OpenPGP card: RSA-2048 generation, signing verified on the host."""

from __future__ import annotations

import datetime
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from sitoken.errors import KeyNotFound, NotSupported, PinError
from sitoken.pcsc.openpgp import OpenPgpCard
from sitoken.pin import Pin
from sitoken.token import KeyType, Mechanism

PIN, ADMIN = "123456", "12345678"


def test_capabilities_are_declared(openpgp: OpenPgpCard) -> None:
    caps = openpgp.capabilities
    assert caps.exact_retries and caps.can_unblock and caps.can_init_token
    assert caps.key_types == (KeyType.RSA2048,) and not caps.can_delete_keys


def test_keygen_needs_admin_pin(openpgp: OpenPgpCard) -> None:
    with pytest.raises(KeyNotFound):
        openpgp.find_key("sig")
    with pytest.raises(PinError):
        openpgp.generate_key(KeyType.RSA2048, "sig")


@pytest.mark.parametrize("mechanism", [Mechanism.RSA_PKCS_SHA256, Mechanism.RSA_PKCS_SHA384])
def test_keygen_sign_verifies_on_host(openpgp: OpenPgpCard, mechanism: Mechanism) -> None:
    openpgp.login_admin(Pin(ADMIN))
    key = openpgp.generate_key(KeyType.RSA2048, "sig")
    assert (key.label, key.id, key.key_type) == ("sig", "01", KeyType.RSA2048)
    assert openpgp.find_key("signature") == openpgp.find_key("id:01") == key
    public = serialization.load_der_public_key(openpgp.public_key_der("sig"))
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048
    openpgp.login(Pin(PIN))
    algorithm = hashes.SHA256() if mechanism is Mechanism.RSA_PKCS_SHA256 else hashes.SHA384()
    for message in (b"first record", b"second record"):  # PW1 is valid for one signature
        signature = openpgp.sign("sig", message, mechanism)
        public.verify(signature, message, padding.PKCS1v15(), algorithm)
        assert openpgp.verify("sig", message, signature, mechanism)
        assert not openpgp.verify("sig", message + b"!", signature, mechanism)


def test_sign_without_login_is_refused(openpgp: OpenPgpCard) -> None:
    openpgp.login_admin(Pin(ADMIN))
    openpgp.generate_key(KeyType.RSA2048, "sig")
    with pytest.raises(PinError):
        openpgp.sign("sig", hashlib.sha256(b"x").digest())
    with pytest.raises(NotSupported):
        openpgp.delete_key("sig")


def _certificate() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sitoken test holder")])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(7)
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_certificate_import_read_and_factory_reset(openpgp: OpenPgpCard) -> None:
    assert openpgp.read_certificate() is None
    der = _certificate()
    openpgp.login_admin(Pin(ADMIN))
    openpgp.generate_key(KeyType.RSA2048, "sig")
    openpgp.import_certificate(der)
    assert openpgp.read_certificate() == der
    openpgp.init_token(Pin(ADMIN), "Holder Test")
    assert openpgp.keys() == [] and openpgp.read_certificate() is None
    assert openpgp.info().label == "Holder Test"
    openpgp.login(Pin(PIN))
