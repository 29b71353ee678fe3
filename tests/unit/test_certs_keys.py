"""The KeySigner protocol, SoftwareSigner and the mechanism <-> AlgorithmIdentifier maps."""

from __future__ import annotations

import pytest
from asn1crypto import algos
from certs_helpers import SIGNING_CASES, signer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from sitoken.certs.keys import (
    KeySigner,
    SoftwareSigner,
    choose_mechanism,
    mechanism_of,
    sign_checked,
    signature_algorithm,
)
from sitoken.errors import InvalidInput, SignatureInvalid
from sitoken.token import KeyType, Mechanism

_OIDS = {
    Mechanism.RSA_PKCS_SHA256: "1.2.840.113549.1.1.11",
    Mechanism.RSA_PKCS_SHA384: "1.2.840.113549.1.1.12",
    Mechanism.RSA_PSS_SHA256: "1.2.840.113549.1.1.10",
    Mechanism.RSA_PSS_SHA384: "1.2.840.113549.1.1.10",
    Mechanism.ECDSA_SHA256: "1.2.840.10045.4.3.2",
    Mechanism.ECDSA_SHA384: "1.2.840.10045.4.3.3",
    Mechanism.EDDSA: "1.3.101.112",
    Mechanism.SM2_SM3: "1.2.156.10197.1.501",
}


@pytest.mark.parametrize("mechanism", list(Mechanism))
def test_each_mechanism_has_its_x509_identifier_and_maps_back(mechanism: Mechanism) -> None:
    algorithm = signature_algorithm(mechanism)
    assert algorithm["algorithm"].dotted == _OIDS[mechanism]
    assert mechanism_of(algos.SignedDigestAlgorithm.load(algorithm.dump())) is mechanism


def test_rsa_pkcs1_identifier_carries_null_and_ecdsa_none() -> None:
    assert signature_algorithm(Mechanism.RSA_PKCS_SHA256).dump().endswith(b"\x05\x00")
    assert signature_algorithm(Mechanism.ECDSA_SHA256).dump() == bytes.fromhex(
        "300a06082a8648ce3d040302")


def test_pss_parameters_name_hash_mgf1_and_salt_length() -> None:
    params = signature_algorithm(Mechanism.RSA_PSS_SHA384)["parameters"].native
    assert params["hash_algorithm"]["algorithm"] == "sha384"
    assert params["mask_gen_algorithm"]["parameters"]["algorithm"] == "sha384"
    assert params["salt_length"] == 48


def test_bare_rsa_encryption_takes_the_digest_from_cms() -> None:
    rsa = algos.SignedDigestAlgorithm({"algorithm": "1.2.840.113549.1.1.1"})
    assert mechanism_of(rsa, "sha384") is Mechanism.RSA_PKCS_SHA384


def test_unsupported_signature_algorithm_is_a_signature_error() -> None:
    with pytest.raises(SignatureInvalid, match="sha1_rsa"):
        mechanism_of(algos.SignedDigestAlgorithm({"algorithm": "sha1_rsa"}))


@pytest.mark.parametrize(("key_type", "mechanism"), SIGNING_CASES)
def test_software_signer_signs_and_its_signature_checks(key_type: KeyType,
                                                         mechanism: Mechanism) -> None:
    key = signer(key_type)
    assert key.key_type is key_type
    assert serialization.load_der_public_key(key.public_key_der()) is not None
    assert len(sign_checked(key, b"data", mechanism)) > 32


def test_mechanism_must_fit_the_key() -> None:
    assert choose_mechanism(KeyType.EC_P384, None) is Mechanism.ECDSA_SHA384
    with pytest.raises(InvalidInput, match="does not fit"):
        choose_mechanism(KeyType.EC_P256, Mechanism.RSA_PKCS_SHA256)
    with pytest.raises(InvalidInput, match="does not fit"):
        signer(KeyType.ED25519).sign(b"x", Mechanism.ECDSA_SHA256)


class _RawEcdsaSigner:
    """A driver bug on purpose: it returns r||s instead of DER."""

    key_type = KeyType.EC_P256

    def __init__(self) -> None:
        self.inner = signer(KeyType.EC_P256)

    def public_key_der(self) -> bytes:
        return self.inner.public_key_der()

    def sign(self, data: bytes, mechanism: Mechanism) -> bytes:
        r, s = decode_dss_signature(self.inner.sign(data, mechanism))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def test_raw_ecdsa_signature_is_caught_before_it_reaches_der() -> None:
    bad: KeySigner = _RawEcdsaSigner()
    with pytest.raises(SignatureInvalid, match="DER-encoded"):
        sign_checked(bad, b"data", Mechanism.ECDSA_SHA256)


def test_signer_for_another_key_is_caught() -> None:
    class Mismatched(_RawEcdsaSigner):
        def sign(self, data: bytes, mechanism: Mechanism) -> bytes:
            return signer(KeyType.EC_P256, 1).sign(data, mechanism)

    with pytest.raises(SignatureInvalid):
        sign_checked(Mismatched(), b"data", Mechanism.ECDSA_SHA256)


def test_pem_round_trip_and_bad_pem() -> None:
    key = signer(KeyType.EC_P256)
    again = SoftwareSigner.from_pem(key.to_pem())
    assert again.public_key_der() == key.public_key_der()
    assert "PRIVATE" not in repr(again)
    with pytest.raises(InvalidInput, match=r"private key was expected.*damaged or truncated"):
        SoftwareSigner.from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def test_unsupported_curve_is_refused() -> None:
    with pytest.raises(InvalidInput, match="supported"):
        SoftwareSigner(ec.generate_private_key(ec.SECP521R1()))
