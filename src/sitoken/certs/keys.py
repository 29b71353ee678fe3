"""Signing keys for certificate work: the KeySigner protocol, a software signer, algorithm maps."""

from __future__ import annotations

from typing import Protocol

from asn1crypto import algos, core
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from ..algorithms import find_mechanism, hash_algorithm, key_type_for_curve, key_type_for_rsa_bits
from ..errors import InvalidInput, SignatureInvalid
from ..pubkey import verify_host
from ..sm2 import SM2_SIGN_OID, SM2_WITH_SM3_OID, is_sm2_spki
from ..token import KeyType, Mechanism
from .sniff import expected

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey



class KeySigner(Protocol):
    """A private key that signs, wherever it lives (a token, or memory for tests and the CA).

    ``sign`` hashes and signs ``data`` itself with ``mechanism``; ECDSA
    signatures come back DER-encoded (SEQUENCE of r, s), as X.509 and CMS carry them.
    RSA-PSS uses MGF1 with the message hash and a salt as long as the hash.
    An SM2 signer may have an ``sm2_id`` attribute: the signer ID its signatures bind through Z
    (absent or None: GM/T 0009's default). It is optional, so signers written before SM2 still fit.
    """

    @property
    def key_type(self) -> KeyType: ...

    def public_key_der(self) -> bytes:
        """The public key as a DER SubjectPublicKeyInfo."""
        ...

    def sign(self, data: bytes, mechanism: Mechanism) -> bytes: ...


def hash_for(mechanism: Mechanism) -> hashes.HashAlgorithm:
    """The message hash of a mechanism; EdDSA (Ed25519) uses SHA-512 where CMS needs one."""
    result: hashes.HashAlgorithm = hash_algorithm(mechanism.hash_name or "sha512")
    return result


def key_type_of(public_key: object) -> KeyType | None:
    """The KeyType of a cryptography public or private key, None for other kinds."""
    if isinstance(public_key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return key_type_for_rsa_bits(public_key.key_size)
    if isinstance(public_key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        return key_type_for_curve(public_key.curve.name)
    if isinstance(public_key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey)):
        return KeyType.ED25519
    return None


def load_public_key(spki_der: bytes) -> PublicKey:
    """A cryptography public key from a DER SubjectPublicKeyInfo of a key type sitoken uses."""
    try:
        key = serialization.load_der_public_key(spki_der)
    except UnsupportedAlgorithm:
        raise InvalidInput("the public key's type is not supported") from None
    except ValueError:
        raise expected("a public key", spki_der) from None
    if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)):
        raise InvalidInput(f"public key type {type(key).__name__} is not supported")
    return key


def choose_mechanism(key_type: KeyType, mechanism: Mechanism | None) -> Mechanism:
    """The mechanism to sign with: the key type's default, or the given one if it fits."""
    if mechanism is None:
        return key_type.default_mechanism
    if mechanism.family != key_type.family:
        raise InvalidInput(f"mechanism {mechanism.value} does not fit a {key_type.value} key")
    return mechanism


def signature_algorithm(mechanism: Mechanism) -> algos.SignedDigestAlgorithm:
    """The X.509 / CMS AlgorithmIdentifier for signatures made with ``mechanism``."""
    if mechanism.facts.padding == "pss":
        digest = mechanism.hash_name
        params = algos.RSASSAPSSParams({
            "hash_algorithm": {"algorithm": digest},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": digest}},
            "salt_length": hash_for(mechanism).digest_size,
        })
        return algos.SignedDigestAlgorithm({"algorithm": "rsassa_pss", "parameters": params})
    if mechanism.family == "rsa":
        # RFC 4055: the sha*WithRSAEncryption identifiers carry an explicit NULL.
        return algos.SignedDigestAlgorithm(
            {"algorithm": f"{mechanism.hash_name}_rsa", "parameters": core.Null()}
        )
    if mechanism.family == "ec":
        return algos.SignedDigestAlgorithm({"algorithm": f"{mechanism.hash_name}_ecdsa"})
    if mechanism.family == "sm2":  # GM/T 0015: SM2-with-SM3, parameters absent
        return algos.SignedDigestAlgorithm({"algorithm": SM2_WITH_SM3_OID})
    return algos.SignedDigestAlgorithm({"algorithm": "ed25519"})


def _pss_mechanism(params: algos.RSASSAPSSParams) -> Mechanism:
    digest = params["hash_algorithm"]["algorithm"].native
    mgf = params["mask_gen_algorithm"]
    mgf_digest = mgf["parameters"]["algorithm"].native
    mechanism = find_mechanism("rsa", digest, "pss")
    if (mechanism is None or mgf["algorithm"].native != "mgf1" or mgf_digest != digest
            or params["salt_length"].native != hash_for(mechanism).digest_size
            or params["trailer_field"].native != "trailer_field_bc"):
        raise SignatureInvalid("only RSA-PSS with MGF1 of the same hash and salt = hash length")
    return mechanism


def mechanism_of(algorithm: algos.SignedDigestAlgorithm, digest: str | None = None) -> Mechanism:
    """The mechanism behind a signature AlgorithmIdentifier (``digest`` for bare rsaEncryption)."""
    name = algorithm["algorithm"].native
    if name == "rsassa_pss":
        return _pss_mechanism(algorithm["parameters"])
    if name == "rsassa_pkcs1v15" and digest is not None:  # bare rsaEncryption, as in CMS
        name = f"{digest}_rsa"
    if name in (SM2_WITH_SM3_OID, SM2_SIGN_OID):  # GM/T 0015 SM2-with-SM3; GM/T 0010 writes SM2-1
        return Mechanism.SM2_SM3
    hash_name, _, kind = name.partition("_")
    found = {
        "rsa": find_mechanism("rsa", hash_name, "pkcs1v15"),
        "ecdsa": find_mechanism("ec", hash_name),
    }.get(kind) if kind else find_mechanism("eddsa", None) if name == "ed25519" else None
    if found is None:
        raise SignatureInvalid(f"signature algorithm {name} is not supported")
    return found


def verify_signature(public_key: PublicKey, signature: bytes, data: bytes,
                     mechanism: Mechanism) -> None:
    """Raise SignatureInvalid unless ``signature`` over ``data`` verifies with ``public_key``."""
    try:
        if isinstance(public_key, rsa.RSAPublicKey) and mechanism.family == "rsa":
            public_key.verify(signature, data, _rsa_padding(mechanism), hash_for(mechanism))
        elif isinstance(public_key, ec.EllipticCurvePublicKey) and mechanism.family == "ec":
            public_key.verify(signature, data, ec.ECDSA(hash_for(mechanism)))
        elif isinstance(public_key, ed25519.Ed25519PublicKey) and mechanism is Mechanism.EDDSA:
            public_key.verify(signature, data)
        else:
            raise SignatureInvalid(f"a {mechanism.value} signature cannot come from this key type")
    except InvalidSignature:
        raise SignatureInvalid("the signature does not match the data and the public key") from None


def verify_any(spki: bytes, signature: bytes, data: bytes, mechanism: Mechanism,
               sm2_id: bytes | None = None) -> None:
    """:func:`verify_signature` for any key sitoken signs with, SM2 (through sitoken.sm2) included."""
    if mechanism is Mechanism.SM2_SM3 or is_sm2_spki(spki):
        if not verify_host(spki, data, signature, mechanism, sm2_id=sm2_id):
            raise SignatureInvalid("the SM2 signature does not match the data, the public key and the signer ID")
        return
    verify_signature(load_public_key(spki), signature, data, mechanism)


def sign_checked(signer: KeySigner, data: bytes, mechanism: Mechanism) -> bytes:
    """Sign and check the result against the signer's public key before it goes into DER.

    A wrong key selection, or a driver that hands back a raw r||s ECDSA value,
    would otherwise produce a request a CA rejects much later, far from the cause.
    """
    signature = signer.sign(data, mechanism)
    try:
        verify_any(signer.public_key_der(), signature, data, mechanism, getattr(signer, "sm2_id", None))
    except SignatureInvalid as exc:
        raise SignatureInvalid(
            f"the key's {mechanism.value} signature does not verify with its own public key "
            f"(wrong key, or an ECDSA signature not DER-encoded?): {exc}"
        ) from None
    return signature


def _rsa_padding(mechanism: Mechanism) -> padding.AsymmetricPadding:
    if mechanism.facts.padding == "pss":
        return padding.PSS(mgf=padding.MGF1(hash_for(mechanism)),
                           salt_length=hash_for(mechanism).digest_size)
    return padding.PKCS1v15()


def _generate(key_type: KeyType) -> PrivateKey:
    if key_type is KeyType.RSA2048:
        return rsa.generate_private_key(65537, 2048)
    if key_type is KeyType.RSA3072:
        return rsa.generate_private_key(65537, 3072)
    if key_type is KeyType.EC_P256:
        return ec.generate_private_key(ec.SECP256R1())
    if key_type is KeyType.EC_P384:
        return ec.generate_private_key(ec.SECP384R1())
    return ed25519.Ed25519PrivateKey.generate()


class SoftwareSigner:
    """A KeySigner over a private key in memory: for tests, demos and the local CA."""

    def __init__(self, private_key: PrivateKey) -> None:
        key_type = key_type_of(private_key)
        if key_type is None:
            raise InvalidInput("only RSA 2048/3072, EC P-256/P-384 and Ed25519 keys are supported")
        self._key = private_key
        self._key_type = key_type

    def __repr__(self) -> str:
        return f"SoftwareSigner({self._key_type.value})"

    @classmethod
    def generate(cls, key_type: KeyType) -> SoftwareSigner:
        return cls(_generate(key_type))

    @classmethod
    def from_pem(cls, data: bytes, password: bytes | None = None) -> SoftwareSigner:
        try:
            key = serialization.load_pem_private_key(data, password)
        except TypeError:
            raise InvalidInput("the private key is encrypted: give its password" if password is None
                               else "the private key is not encrypted, yet a password was given") from None
        except UnsupportedAlgorithm:
            raise InvalidInput("the private key's type is not supported") from None
        except ValueError:
            raise expected("a private key", data, hint="or the password is wrong") from None
        if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey,
                                ed25519.Ed25519PrivateKey)):
            raise InvalidInput(f"private key type {type(key).__name__} is not supported")
        return cls(key)

    @property
    def key_type(self) -> KeyType:
        return self._key_type

    @property
    def private_key(self) -> PrivateKey:
        return self._key

    def to_pem(self) -> bytes:
        """PKCS#8 PEM, unencrypted: the caller decides where it may be written."""
        return self._key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())

    def public_key_der(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, data: bytes, mechanism: Mechanism) -> bytes:
        mechanism = choose_mechanism(self._key_type, mechanism)
        key = self._key
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, _rsa_padding(mechanism), hash_for(mechanism))
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(hash_for(mechanism)))
        return key.sign(data)
