"""Key pairs, signing and verification on a real SoftHSM token, checked by openssl too."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bed_support import softhsm_key_types
from sitoken import pubkey
from sitoken.errors import InvalidInput, KeyNotFound, MechanismUnsupported
from sitoken.pkcs11 import Pkcs11Token
from sitoken.token import KeyType, Mechanism, mechanisms_for

SOFTHSM_KEY_TYPES = softhsm_key_types()

pytestmark = pytest.mark.softhsm

DOC = "社保 record: contribution confirmed 2026-11".encode()
CASES = [(kt, mech) for kt in SOFTHSM_KEY_TYPES for mech in mechanisms_for(kt)]


@pytest.fixture()
def keyed_token(token: Pkcs11Token) -> Pkcs11Token:
    for kt in SOFTHSM_KEY_TYPES:
        token.generate_key(kt, f"k-{kt.value}")
    return token


@pytest.mark.parametrize(("key_type", "mechanism"), CASES, ids=[f"{k.value}/{m.value}" for k, m in CASES])
def test_sign_verifies_on_token_and_host(keyed_token: Pkcs11Token, key_type: KeyType, mechanism: Mechanism) -> None:
    label = f"k-{key_type.value}"
    signature = keyed_token.sign(label, DOC, mechanism)
    spki = keyed_token.public_key_der(label)
    assert keyed_token.verify(label, DOC, signature, mechanism)
    assert pubkey.verify_host(spki, DOC, signature, mechanism)
    assert not keyed_token.verify(label, DOC + b"!", signature, mechanism)
    assert not pubkey.verify_host(spki, DOC + b"!", signature, mechanism)


OPENSSL_CASES = [
    (KeyType.RSA2048, Mechanism.RSA_PKCS_SHA256, ["-sha256"]),
    (KeyType.RSA3072, Mechanism.RSA_PKCS_SHA384, ["-sha384"]),
    (KeyType.RSA2048, Mechanism.RSA_PSS_SHA256,
     ["-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]),
    (KeyType.EC_P256, Mechanism.ECDSA_SHA256, ["-sha256"]),
    (KeyType.EC_P384, Mechanism.ECDSA_SHA384, ["-sha384"]),
]


@pytest.mark.parametrize(("key_type", "mechanism", "args"), OPENSSL_CASES, ids=lambda v: getattr(v, "value", ""))
def test_openssl_verifies_with_the_exported_key(
    keyed_token: Pkcs11Token, tmp_path: Path, key_type: KeyType, mechanism: Mechanism, args: list[str]
) -> None:
    label = f"k-{key_type.value}"
    (tmp_path / "doc").write_bytes(DOC)
    (tmp_path / "sig").write_bytes(keyed_token.sign(label, DOC, mechanism))
    (tmp_path / "key.pem").write_bytes(pubkey.spki_to_pem(keyed_token.public_key_der(label)))
    done = subprocess.run(
        ["openssl", "dgst", *args, "-verify", tmp_path / "key.pem", "-signature", tmp_path / "sig", tmp_path / "doc"],
        capture_output=True, text=True,
    )
    assert done.returncode == 0 and "Verified OK" in done.stdout, done.stdout + done.stderr


def test_openssl_verifies_ed25519(keyed_token: Pkcs11Token, tmp_path: Path) -> None:
    (tmp_path / "doc").write_bytes(DOC)
    (tmp_path / "sig").write_bytes(keyed_token.sign("k-ed25519", DOC))
    (tmp_path / "key.pem").write_bytes(pubkey.spki_to_pem(keyed_token.public_key_der("k-ed25519")))
    done = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", tmp_path / "key.pem", "-rawin",
         "-in", tmp_path / "doc", "-sigfile", tmp_path / "sig"],
        capture_output=True, text=True,
    )
    assert done.returncode == 0 and "Signature Verified Successfully" in done.stdout, done.stdout + done.stderr


def test_keys_are_listed_with_type_and_halves(keyed_token: Pkcs11Token) -> None:
    listed = keyed_token.keys()
    keys = {k.label: k for k in listed}
    assert set(keys) == {f"k-{kt.value}" for kt in SOFTHSM_KEY_TYPES}
    for kt in SOFTHSM_KEY_TYPES:
        info = keys[f"k-{kt.value}"]
        assert info.key_type is kt and info.has_private and info.has_public and len(info.id) == 16


def test_find_by_id_and_delete(token: Pkcs11Token) -> None:
    info = token.generate_key(KeyType.EC_P256, "to-delete", key_id=b"\x0a\x0b")
    assert info.id == "0a0b"
    assert token.find_key("id:0a0b").label == "to-delete"
    token.delete_key("id:0a0b")
    with pytest.raises(KeyNotFound):
        token.find_key("to-delete")
    assert token.keys() == []


def test_private_keys_are_sensitive_and_not_extractable(token: Pkcs11Token) -> None:
    from sitoken.pkcs11.constants import CKA, CKO

    token.generate_key(KeyType.RSA2048, "guarded")
    session = token.session()
    (key,) = session.find({CKA.CLASS: CKO.PRIVATE_KEY, CKA.LABEL: "guarded"})
    attrs = session.attributes(key, [CKA.SENSITIVE, CKA.EXTRACTABLE, CKA.PRIVATE_EXPONENT, CKA.MODULUS])
    assert attrs[CKA.SENSITIVE] is True and attrs[CKA.EXTRACTABLE] is False
    assert attrs[CKA.PRIVATE_EXPONENT] is None  # CKR_ATTRIBUTE_SENSITIVE: the module hides it
    assert len(attrs[CKA.MODULUS]) == 256  # the public half of the same object still reads


def test_duplicate_label_is_refused(token: Pkcs11Token) -> None:
    token.generate_key(KeyType.EC_P256, "dup")
    with pytest.raises(InvalidInput, match="already exists"):
        token.generate_key(KeyType.EC_P256, "dup")


def test_mechanism_must_fit_the_key(keyed_token: Pkcs11Token) -> None:
    with pytest.raises(MechanismUnsupported):
        keyed_token.sign("k-ec-p256", DOC, Mechanism.RSA_PKCS_SHA256)
    with pytest.raises(MechanismUnsupported):
        keyed_token.sign("k-rsa2048", DOC, Mechanism.EDDSA)


def test_unknown_key_and_bad_id(token: Pkcs11Token) -> None:
    with pytest.raises(KeyNotFound):
        token.sign("nope", DOC)
    with pytest.raises(InvalidInput):
        token.find_key("id:zz")


def test_malformed_signature_is_simply_invalid(keyed_token: Pkcs11Token) -> None:
    assert not keyed_token.verify("k-ec-p256", DOC, b"\x30\x03garbage")
    spki = keyed_token.public_key_der("k-ec-p256")
    assert not pubkey.verify_host(spki, DOC, b"garbage", Mechanism.ECDSA_SHA256)


def test_signing_needs_login(fresh_token: Pkcs11Token) -> None:
    from sitoken.errors import Pkcs11Error

    with pytest.raises(Pkcs11Error, match="CKR_USER_NOT_LOGGED_IN"):
        fresh_token.generate_key(KeyType.EC_P256, "no-login")
