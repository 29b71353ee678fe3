"""The one table of algorithm facts: key types, curves, hashes, DigestInfo, signature encodings.

Every driver, the host-side verifier (``sitoken.pubkey``), the certificate code and the batch
path read these rows; none keeps a copy. Driver-specific numbers (PKCS#11 CKK/CKM, SKF
algorithm IDs) live with each driver and are keyed by the enums here. A new algorithm (the
national SM2/SM3, say) is one ``KeyType`` or ``Mechanism`` member plus one row below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .errors import InvalidInput


class KeyType(str, Enum):
    """Key pair types sitoken generates, by their CLI names."""

    RSA2048 = "rsa2048"
    RSA3072 = "rsa3072"
    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"
    ED25519 = "ed25519"
    SM2 = "sm2"  # the national curve (GM/T 0003), 256-bit, signed as SM2-with-SM3

    @property
    def facts(self) -> KeyFacts:
        return KEYS[self]

    @property
    def family(self) -> str:
        return KEYS[self].family

    @property
    def default_mechanism(self) -> Mechanism:
        return KEYS[self].default_mechanism


class Mechanism(str, Enum):
    """Signature schemes, named by what they compute, independent of the driver."""

    RSA_PKCS_SHA256 = "rsa-pkcs-sha256"
    RSA_PKCS_SHA384 = "rsa-pkcs-sha384"
    RSA_PSS_SHA256 = "rsa-pss-sha256"
    RSA_PSS_SHA384 = "rsa-pss-sha384"
    ECDSA_SHA256 = "ecdsa-sha256"
    ECDSA_SHA384 = "ecdsa-sha384"
    EDDSA = "eddsa"
    # SM3 over Z ‖ M, Z binding the signer's ID (default 1234567812345678) and public key;
    # the signature is DER SEQUENCE {r, s} like ECDSA's.
    SM2_SM3 = "sm2-sm3"

    @property
    def facts(self) -> SchemeFacts:
        return SCHEMES[self]

    @property
    def family(self) -> str:
        """The key family it needs: rsa, ec, eddsa or sm2 (matches KeyType.family)."""
        return SCHEMES[self].family

    @property
    def hash_name(self) -> str | None:
        """The digest the scheme applies to the message (None for EdDSA, which hashes inside)."""
        return SCHEMES[self].hash_name


@dataclass(frozen=True)
class HashFacts:
    """A digest: its size and the DER DigestInfo header PKCS#1 v1.5 puts before it."""

    name: str  # hashlib's and cryptography's name
    size: int
    digest_info_prefix: bytes = b""  # RFC 8017 §9.2 note 1 (parameters as an explicit NULL)


@dataclass(frozen=True)
class KeyFacts:
    """What a key type is: family, modulus size or curve, raw signature size, default scheme."""

    family: str  # rsa, ec, eddsa
    signature_size: int  # RSA: modulus bytes; ECDSA: r||s; EdDSA: R||S
    default_mechanism: Mechanism
    bits: int | None = None  # RSA modulus size
    curve: str | None = None  # named curve (asn1crypto / cryptography name)
    curve_oid: str | None = None
    # The curve OID as DER, what CKA_EC_PARAMS and an SPKI's parameters hold (asn1crypto's
    # encoding of curve_oid, checked by a unit test): a key's type is found without an ASN.1 parser.
    ec_params: bytes = b""

    @property
    def component_size(self) -> int:
        """Bytes of r (or s) in an r||s signature."""
        return self.signature_size // 2


@dataclass(frozen=True)
class SchemeFacts:
    """How a scheme signs: what the host hands the token, and what comes back.

    ``host_input``: ``digest-info`` (RSA PKCS#1 v1.5: DigestInfo of the hash), ``digest``
    (PSS, ECDSA: the bare hash), ``message`` (EdDSA hashes inside). ``token_output``:
    ``raw-rs`` (r||s, re-encoded as DER SEQUENCE{r, s} for the world) or ``as-is``.
    """

    family: str
    hash_name: str | None
    host_input: str
    token_output: str = "as-is"
    padding: str | None = None  # RSA: pkcs1v15 or pss (salt = hash length, MGF1 same hash)


HASHES: dict[str, HashFacts] = {
    "sha256": HashFacts("sha256", 32, bytes.fromhex("3031300d060960864801650304020105000420")),
    "sha384": HashFacts("sha384", 48, bytes.fromhex("3041300d060960864801650304020205000430")),
    "sha512": HashFacts("sha512", 64, bytes.fromhex("3051300d060960864801650304020305000440")),
    "sm3": HashFacts("sm3", 32),  # GM/T 0004; SM2 signs SM3(Z ‖ M), never a DigestInfo
}

KEYS: dict[KeyType, KeyFacts] = {
    KeyType.RSA2048: KeyFacts("rsa", 256, Mechanism.RSA_PKCS_SHA256, bits=2048),
    KeyType.RSA3072: KeyFacts("rsa", 384, Mechanism.RSA_PKCS_SHA256, bits=3072),
    KeyType.EC_P256: KeyFacts("ec", 64, Mechanism.ECDSA_SHA256, curve="secp256r1",
                              curve_oid="1.2.840.10045.3.1.7", ec_params=bytes.fromhex("06082a8648ce3d030107")),
    KeyType.EC_P384: KeyFacts("ec", 96, Mechanism.ECDSA_SHA384, curve="secp384r1",
                              curve_oid="1.3.132.0.34", ec_params=bytes.fromhex("06052b81040022")),
    KeyType.ED25519: KeyFacts("eddsa", 64, Mechanism.EDDSA, curve="ed25519",
                              curve_oid="1.3.101.112", ec_params=bytes.fromhex("06032b6570")),
    KeyType.SM2: KeyFacts("sm2", 64, Mechanism.SM2_SM3, curve="sm2", curve_oid="1.2.156.10197.1.301",
                          ec_params=bytes.fromhex("06082a811ccf5501822d")),
}

#: GM/T 0009's default SM2 signer ID, what Z binds unless the parties agree on another.
SM2_DEFAULT_ID = b"1234567812345678"

SCHEMES: dict[Mechanism, SchemeFacts] = {
    Mechanism.RSA_PKCS_SHA256: SchemeFacts("rsa", "sha256", "digest-info", padding="pkcs1v15"),
    Mechanism.RSA_PKCS_SHA384: SchemeFacts("rsa", "sha384", "digest-info", padding="pkcs1v15"),
    Mechanism.RSA_PSS_SHA256: SchemeFacts("rsa", "sha256", "digest", padding="pss"),
    Mechanism.RSA_PSS_SHA384: SchemeFacts("rsa", "sha384", "digest", padding="pss"),
    Mechanism.ECDSA_SHA256: SchemeFacts("ec", "sha256", "digest", "raw-rs"),
    Mechanism.ECDSA_SHA384: SchemeFacts("ec", "sha384", "digest", "raw-rs"),
    Mechanism.EDDSA: SchemeFacts("eddsa", None, "message"),
    # The signer's ID enters Z, so a token (or sitoken.sm2 on the host) hashes; r||s comes back.
    Mechanism.SM2_SM3: SchemeFacts("sm2", "sm3", "message", "raw-rs"),
}


def key_type_for_rsa_bits(bits: int | None) -> KeyType | None:
    return next((k for k, f in KEYS.items() if f.family == "rsa" and f.bits == bits), None)


def key_type_for_ec_params(params: bytes) -> KeyType | None:
    """The key type whose named curve ``params`` (DER, as in CKA_EC_PARAMS) is, if in the table."""
    return next((k for k, f in KEYS.items() if f.ec_params and f.ec_params == params), None)


def key_type_for_curve(name_or_oid: str) -> KeyType | None:
    """The key type of a named curve, by name (``secp256r1``) or dotted OID."""
    return next((k for k, f in KEYS.items() if name_or_oid in (f.curve, f.curve_oid)), None)


def find_mechanism(family: str, hash_name: str | None, padding: str | None = None) -> Mechanism | None:
    """The mechanism of a family with this hash (and RSA padding), as X.509 and CMS name them."""
    for mechanism, facts in SCHEMES.items():
        if (facts.family, facts.hash_name, facts.padding) == (family, hash_name, padding):
            return mechanism
    return None


def hash_algorithm(name: str) -> Any:
    """cryptography's HashAlgorithm for a row of ``HASHES`` (imported here, when needed)."""
    from cryptography.hazmat.primitives import hashes

    if name not in HASHES:
        raise InvalidInput(f"hash {name!r} is not in sitoken's table")
    return getattr(hashes, name.upper())()


def mechanisms_for(key_type: KeyType) -> list[Mechanism]:
    """Signature mechanisms that fit a key type."""
    return [m for m in Mechanism if m.family == key_type.family]


def digest(mechanism: Mechanism, data: bytes) -> bytes:
    import hashlib  # here: `import sitoken.token` stays free of OpenSSL's _hashlib

    name = mechanism.hash_name
    if name is None:
        raise ValueError(f"{mechanism.value} does not hash on the host")
    return hashlib.new(name, data).digest()


def preparer(mechanism: Mechanism, *, prehashed: bool = False) -> Callable[[bytes], bytes]:
    """The host-side step that turns one input into what the token signs, bound once.

    ``prehashed``: the inputs already are digests of the scheme's hash.
    """
    facts = SCHEMES[mechanism]
    if facts.host_input == "message" or facts.hash_name is None:
        if prehashed:
            raise InvalidInput(f"{mechanism.value} signs the message itself; prehashed input is not possible")
        return bytes
    hash_facts = HASHES[facts.hash_name]
    prefix = hash_facts.digest_info_prefix if facts.host_input == "digest-info" else b""
    if prehashed:
        size, name = hash_facts.size, facts.hash_name

        def checked(digest: bytes) -> bytes:
            if len(digest) != size:
                raise InvalidInput(f"a prehashed {name} input is {size} bytes")
            return prefix + bytes(digest)

        return checked
    import hashlib

    hash_name = facts.hash_name
    # hashlib.sha256 is a C constructor, about twice as fast as hashlib.new per input.
    hash_fn = getattr(hashlib, hash_name, None) or (lambda data: hashlib.new(hash_name, data))
    return lambda data: prefix + hash_fn(data).digest()


def host_input(mechanism: Mechanism, data: bytes, *, prehashed: bool = False) -> bytes:
    """What the token signs for ``data`` (``prehashed``: ``data`` already is the digest)."""
    return preparer(mechanism, prehashed=prehashed)(data)


def ecdsa_raw_to_der(raw: bytes) -> bytes:
    """r||s as a token returns it, to the DER ECDSA-Sig-Value the rest of the world expects."""
    # pyca/cryptography's encoder (imported here, so that sitoken.token stays free of third-party
    # imports): about half the import cost of asn1crypto's algos, which a fast ``sign`` paid.
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    half = len(raw) // 2
    return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


def ecdsa_der_to_raw(der: bytes, size: int) -> bytes:
    """DER SEQUENCE {r, s} to r||s with each half ``size`` bytes long."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    try:
        r, s = decode_dss_signature(der)
    except (ValueError, TypeError):
        raise InvalidInput("the ECDSA signature is not DER-encoded") from None
    if r.bit_length() > size * 8 or s.bit_length() > size * 8:
        raise InvalidInput("the ECDSA signature does not fit the key's curve")
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def from_token(mechanism: Mechanism, raw: bytes) -> bytes:
    """A token's signature as sitoken returns it (r||s schemes as DER)."""
    return ecdsa_raw_to_der(raw) if SCHEMES[mechanism].token_output == "raw-rs" else raw


def to_token(mechanism: Mechanism, signature: bytes, key_type: KeyType | None) -> bytes:
    """A signature as sitoken returns it, back to what the token verifies."""
    if SCHEMES[mechanism].token_output == "raw-rs" and key_type is not None:
        return ecdsa_der_to_raw(signature, KEYS[key_type].component_size)
    return signature
