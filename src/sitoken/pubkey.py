"""Host-side key material: SPKI building and parsing, verification (facts from sitoken.algorithms)."""

from __future__ import annotations

from .algorithms import (
    KEYS,
    KeyType,
    Mechanism,
    hash_algorithm,
    key_type_for_curve,
    key_type_for_ec_params,
    key_type_for_rsa_bits,
)
from .errors import InvalidInput

# asn1crypto and pyca/cryptography are imported by the functions that build, parse or verify,
# not at the top: opening a token, listing its keys and signing with one need neither, and they
# are the slowest imports of a CLI run (docs/cli.md, "A fast CLI").

_EDDSA_CURVES = {f.curve_oid: k for k, f in KEYS.items() if f.family == "eddsa"}


def ec_params_der(key_type: KeyType) -> bytes:
    """CKA_EC_PARAMS for a key type: the named curve's OID, DER-encoded (from the table)."""
    if not key_type.facts.ec_params:
        raise InvalidInput(f"{key_type.value} keys have no curve")
    return key_type.facts.ec_params


def key_type_from_ec_params(params: bytes) -> KeyType | None:
    known = key_type_for_ec_params(params)
    if known is not None:
        return known
    # Other encodings of a curve (explicit parameters, the Edwards curve's name) need a parser.
    from asn1crypto import core, keys

    try:
        parsed = keys.ECDomainParameters.load(params)
        if parsed.name == "named":
            found = key_type_for_curve(parsed.chosen.dotted)
            if found is not None and found.family in ("ec", "sm2"):
                return found
    except ValueError:
        pass
    # Edwards curves come as a bare OID or as the printable string "edwards25519".
    for oid, key_type in _EDDSA_CURVES.items():
        if params == core.ObjectIdentifier(oid).dump():
            return key_type
    if params == core.PrintableString("edwards25519").dump():
        return KeyType.ED25519
    return None


def rsa_spki(modulus: bytes, exponent: bytes) -> bytes:
    from asn1crypto import keys

    public = keys.RSAPublicKey(
        {"modulus": int.from_bytes(modulus, "big"), "public_exponent": int.from_bytes(exponent, "big")}
    )
    return bytes(keys.PublicKeyInfo({"algorithm": {"algorithm": "rsa"}, "public_key": public}).dump())


def ec_spki(params: bytes, ec_point: bytes) -> bytes:
    """SPKI from CKA_EC_PARAMS and CKA_EC_POINT (a DER OCTET STRING per the spec)."""
    from asn1crypto import keys

    point = _unwrap_octet_string(ec_point)
    key_type = key_type_from_ec_params(params)
    if key_type is not None and key_type.family == "eddsa":
        return bytes(keys.PublicKeyInfo({"algorithm": {"algorithm": "ed25519"}, "public_key": point}).dump())
    algorithm = {"algorithm": "ec", "parameters": keys.ECDomainParameters.load(params)}
    return bytes(keys.PublicKeyInfo({"algorithm": algorithm, "public_key": point}).dump())


def _unwrap_octet_string(value: bytes) -> bytes:
    # Some modules return the raw point instead of the DER OCTET STRING; accept both.
    if value[:1] == b"\x04" and len(value) > 2:
        from asn1crypto import core

        try:
            inner = core.OctetString.load(value).native
            if isinstance(inner, bytes) and len(inner) + 2 <= len(value):
                return inner
        except ValueError:
            pass
    return value


def load_public_key(data: bytes) -> bytes:
    """A public key file (PEM or DER SubjectPublicKeyInfo) as DER."""
    sm2_spki = _sm2_spki(data)
    if sm2_spki is not None:
        return sm2_spki  # cryptography cannot load SM2 keys
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        key = (
            serialization.load_pem_public_key(data)
            if data.lstrip().startswith(b"-----")
            else serialization.load_der_public_key(data)
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InvalidInput("not a public key in PEM or DER (SubjectPublicKeyInfo)") from None
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _may_be_sm2(der: bytes) -> bool:
    """False when ``der`` cannot be an SM2 key: the SM2 curve's OID (DER) is not in it. Spares the
    other keys loading sitoken.sm2 (cffi, OpenSSL, asn1crypto)."""
    return KEYS[KeyType.SM2].ec_params in der


def _sm2_spki(data: bytes) -> bytes | None:
    """The DER SPKI when ``data`` (PEM or DER) holds a valid SM2 public key, else None."""
    from asn1crypto import pem

    der = data
    if pem.detect(data):
        try:
            _, _, der = pem.unarmor(data.strip())
        except ValueError:
            return None
    if not _may_be_sm2(der):
        return None
    from . import sm2  # loads cffi and OpenSSL: only for what may be an SM2 key

    if not sm2.is_sm2_spki(der):
        return None
    return sm2.spki_from_point(sm2.point_from_spki(der))


def key_type_of_spki(spki: bytes) -> KeyType | None:
    if _may_be_sm2(spki):
        from . import sm2

        if sm2.is_sm2_spki(spki):
            return KeyType.SM2
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    public = serialization.load_der_public_key(spki)
    if isinstance(public, rsa.RSAPublicKey):
        return key_type_for_rsa_bits(public.key_size)
    if isinstance(public, ec.EllipticCurvePublicKey):
        return key_type_for_curve(public.curve.name)
    return KeyType.ED25519 if isinstance(public, ed25519.Ed25519PublicKey) else None


def spki_to_pem(spki: bytes) -> bytes:
    from asn1crypto import pem

    return bytes(pem.armor("PUBLIC KEY", spki))


def verify_host(
    spki: bytes, data: bytes, signature: bytes, mechanism: Mechanism, *, sm2_id: bytes | None = None
) -> bool:
    """Verify on the host, independent of any token (SM2 through OpenSSL, the rest ``cryptography``).

    ``sm2_id`` is the SM2 signer's ID that Z binds (GM/T 0009's default unless agreed otherwise).
    """
    if mechanism is Mechanism.SM2_SM3 or _may_be_sm2(spki):
        from . import sm2

        is_sm2 = sm2.is_sm2_spki(spki)
        if is_sm2 or mechanism is Mechanism.SM2_SM3:
            if not (is_sm2 and mechanism is Mechanism.SM2_SM3):
                return False  # the mechanism does not fit the key
            return sm2.Sm2PublicKey(spki).verify(data, signature, sm2.DEFAULT_ID if sm2_id is None else sm2_id)
    return _verify_with_cryptography(spki, data, signature, mechanism)


def _verify_with_cryptography(spki: bytes, data: bytes, signature: bytes, mechanism: Mechanism) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization

    public = serialization.load_der_public_key(spki)
    try:
        _verify(public, data, signature, mechanism)
    except (InvalidSignature, ValueError):
        return False
    return True


def _verify(public: object, data: bytes, signature: bytes, mechanism: Mechanism) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    facts = mechanism.facts
    hash_alg = hash_algorithm(facts.hash_name) if facts.hash_name else None
    if isinstance(public, rsa.RSAPublicKey) and hash_alg and facts.family == "rsa":
        pad = (
            padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=hash_alg.digest_size)
            if facts.padding == "pss"
            else padding.PKCS1v15()
        )
        public.verify(signature, data, pad, hash_alg)
    elif isinstance(public, ec.EllipticCurvePublicKey) and hash_alg and facts.family == "ec":
        public.verify(signature, data, ec.ECDSA(hash_alg))
    elif isinstance(public, ed25519.Ed25519PublicKey) and facts.family == "eddsa":
        public.verify(signature, data)
    else:
        raise ValueError("mechanism does not fit the key")
