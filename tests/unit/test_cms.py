"""CMS SignedData: openssl interop, the signed attributes, and every way verification must fail."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from asn1crypto import cms
from certs_helpers import SUBJECT, openssl, shared_ca, signer, write_pem
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitoken.certs import build_csr, build_self_signed
from sitoken.errors import InvalidInput, KeyNotFound, SignatureInvalid
from sitoken.signing.cms import sign_cms, verify_cms
from sitoken.token import KeyType, Mechanism

DATA = "参保人 张三 2026 年度缴费记录\n".encode()

# OpenSSL 3.0 can neither make nor check Ed25519 CMS (its eddsa provider refuses a digest),
# so Ed25519 is covered by verify_cms below only.
OPENSSL_CASES = [
    pytest.param(KeyType.RSA2048, Mechanism.RSA_PKCS_SHA256, id="rsa-pkcs"),
    pytest.param(KeyType.RSA2048, Mechanism.RSA_PSS_SHA256, id="rsa-pss"),
    pytest.param(KeyType.RSA3072, Mechanism.RSA_PKCS_SHA384, id="rsa3072-sha384"),
    pytest.param(KeyType.EC_P256, Mechanism.ECDSA_SHA256, id="p256"),
    pytest.param(KeyType.EC_P384, Mechanism.ECDSA_SHA384, id="p384"),
]


def _issue(key_type: KeyType) -> tuple[bytes, tuple[bytes, ...]]:
    leaf, chain = shared_ca().issue(build_csr(signer(key_type), SUBJECT))
    return leaf, chain


@pytest.mark.parametrize(("key_type", "mechanism"), OPENSSL_CASES)
@pytest.mark.parametrize("detached", [True, False], ids=["detached", "attached"])
def test_openssl_cms_verify_accepts_the_signature(
    tmp_path: Path, key_type: KeyType, mechanism: Mechanism, detached: bool
) -> None:
    leaf, chain = _issue(key_type)
    sig = sign_cms(signer(key_type), leaf, DATA, chain=chain, mechanism=mechanism,
                   detached=detached)
    (tmp_path / "sig.der").write_bytes(sig)
    (tmp_path / "data").write_bytes(DATA)
    root = write_pem(tmp_path / "root.pem", chain[-1:])
    args = ["cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "sig.der"),
            "-CAfile", str(root), "-purpose", "any", "-out", str(tmp_path / "out")]
    if detached:
        args += ["-content", str(tmp_path / "data")]
    result = openssl(*args)
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr
    assert (tmp_path / "out").read_bytes() == DATA


def test_openssl_rejects_tampered_data(tmp_path: Path) -> None:
    leaf, chain = _issue(KeyType.EC_P256)
    (tmp_path / "sig.der").write_bytes(sign_cms(signer(KeyType.EC_P256), leaf, DATA, chain=chain))
    (tmp_path / "data").write_bytes(DATA + b"!")
    root = write_pem(tmp_path / "root.pem", chain[-1:])
    result = openssl("cms", "-verify", "-binary", "-inform", "DER", "-in",
                     str(tmp_path / "sig.der"), "-content", str(tmp_path / "data"),
                     "-CAfile", str(root), "-purpose", "any", "-out", "/dev/null")
    assert result.returncode != 0


@pytest.mark.parametrize(("key_type", "mechanism"), [
    *OPENSSL_CASES, pytest.param(KeyType.ED25519, Mechanism.EDDSA, id="ed25519")])
def test_verify_cms_round_trip(key_type: KeyType, mechanism: Mechanism) -> None:
    leaf, chain = _issue(key_type)
    when = datetime.now(timezone.utc).replace(microsecond=0)
    sig = sign_cms(signer(key_type), leaf, DATA, chain=chain, mechanism=mechanism,
                   signing_time=when)
    result = verify_cms(sig, DATA, trust=[chain[-1]])
    assert result.signer_subject == SUBJECT
    assert result.signing_time == when and result.checked_at == when
    assert result.mechanism is mechanism
    assert result.path == (leaf, *chain)
    assert result.detached and result.content == DATA
    assert result.to_dict()["path"][0] == SUBJECT


def test_signed_attributes_are_the_four_expected_with_ess_hash() -> None:
    leaf, chain = _issue(KeyType.EC_P256)
    sig = sign_cms(signer(KeyType.EC_P256), leaf, DATA, chain=chain)
    info = cms.ContentInfo.load(sig)["content"]["signer_infos"][0]
    attrs = {a["type"].native: a["values"][0] for a in info["signed_attrs"]}
    assert set(attrs) == {"content_type", "message_digest", "signing_time",
                          "signing_certificate_v2"}
    assert attrs["message_digest"].native == hashlib.sha256(DATA).digest()
    ess = attrs["signing_certificate_v2"]["certs"][0]
    assert ess["cert_hash"].native == hashlib.sha256(leaf).digest()
    assert ess["issuer_serial"]["serial_number"].native > 0
    assert info["sid"].name == "issuer_and_serial_number"


def test_attached_signature_verifies_without_data_and_returns_it() -> None:
    leaf, chain = _issue(KeyType.EC_P256)
    sig = sign_cms(signer(KeyType.EC_P256), leaf, DATA, chain=chain, detached=False)
    result = verify_cms(sig, trust=[chain[-1]])
    assert result.content == DATA and not result.detached
    with pytest.raises(SignatureInvalid, match="differs"):
        verify_cms(sig, b"other", trust=[chain[-1]])


def test_intermediate_as_anchor_and_pinned_leaf_are_accepted() -> None:
    leaf, chain = _issue(KeyType.EC_P256)
    sig = sign_cms(signer(KeyType.EC_P256), leaf, DATA, chain=chain)
    assert verify_cms(sig, DATA, trust=[chain[0]]).path == (leaf, chain[0])
    assert verify_cms(sig, DATA, trust=[leaf]).path == (leaf,)


def test_tampered_data_fails_on_the_message_digest() -> None:
    leaf, chain = _issue(KeyType.EC_P256)
    sig = sign_cms(signer(KeyType.EC_P256), leaf, DATA, chain=chain)
    with pytest.raises(SignatureInvalid, match="message digest"):
        verify_cms(sig, DATA + b" ", trust=[chain[-1]])


def test_tampered_signature_value_fails() -> None:
    leaf, chain = _issue(KeyType.RSA2048)
    sig = sign_cms(signer(KeyType.RSA2048), leaf, DATA, chain=chain)
    info = cms.ContentInfo.load(sig)
    value = info["content"]["signer_infos"][0]["signature"].native
    broken = sig.replace(value, value[:-1] + bytes([value[-1] ^ 1]))
    assert broken != sig
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_cms(broken, DATA, trust=[chain[-1]])


def test_tampered_signing_time_breaks_the_signature() -> None:
    leaf, chain = _issue(KeyType.EC_P256)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    sig = sign_cms(signer(KeyType.EC_P256), leaf, DATA, chain=chain, signing_time=now)
    stamp = now.strftime("%y%m%d%H%M%SZ").encode()
    later = (now + timedelta(seconds=1)).strftime("%y%m%d%H%M%SZ").encode()
    assert sig.count(stamp) == 1
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_cms(sig.replace(stamp, later), DATA, trust=[chain[-1]])


def test_wrong_trust_anchor_fails() -> None:
    leaf, chain = _issue(KeyType.EC_P256)
    sig = sign_cms(signer(KeyType.EC_P256), leaf, DATA, chain=chain)
    other_root = build_self_signed(signer(KeyType.EC_P256, 5), chain_root_subject(chain), 30)
    with pytest.raises(SignatureInvalid, match="no chain"):
        verify_cms(sig, DATA, trust=[other_root])


def chain_root_subject(chain: tuple[bytes, ...]) -> str:
    from sitoken.certs import cert_info

    return cert_info(chain[-1]).subject  # same name, other key: must not be trusted


def test_chain_missing_from_the_cms_fails_without_the_intermediate() -> None:
    leaf, chain = _issue(KeyType.EC_P256)
    sig = sign_cms(signer(KeyType.EC_P256), leaf, DATA)
    with pytest.raises(SignatureInvalid, match="no chain"):
        verify_cms(sig, DATA, trust=[chain[-1]])
    assert verify_cms(sig, DATA, trust=[chain[0]]).path == (leaf, chain[0])


def test_certificate_expired_at_signing_time_fails() -> None:
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    old = build_self_signed(signer(KeyType.EC_P256), SUBJECT, 30, not_before=start)
    inside = start + timedelta(days=10)
    ok = sign_cms(signer(KeyType.EC_P256), old, DATA, signing_time=inside)
    assert verify_cms(ok, DATA, trust=[old]).checked_at == inside
    late = sign_cms(signer(KeyType.EC_P256), old, DATA)
    with pytest.raises(SignatureInvalid, match="expired"):
        verify_cms(late, DATA, trust=[old])
    with pytest.raises(SignatureInvalid, match="not yet valid"):
        verify_cms(ok, DATA, trust=[old], at=start - timedelta(days=1))


def test_certificate_for_another_key_is_refused_when_signing() -> None:
    leaf, _ = _issue(KeyType.EC_P256)
    with pytest.raises(KeyNotFound, match="not for this signing key"):
        sign_cms(signer(KeyType.EC_P256, 1), leaf, DATA)


def test_gmt0010_identifiers_are_for_sm2_keys_only() -> None:
    leaf, _ = _issue(KeyType.EC_P256)
    with pytest.raises(InvalidInput, match="GM/T 0010 identifiers are for SM2"):
        sign_cms(signer(KeyType.EC_P256), leaf, DATA, gmt0010=True)


def test_certificate_without_signature_usage_is_refused() -> None:
    cert = build_self_signed(signer(KeyType.EC_P256), "CN=enc", 30,
                             key_usage=["key_agreement"])
    sig = sign_cms(signer(KeyType.EC_P256), cert, DATA)
    with pytest.raises(SignatureInvalid, match="not for signatures"):
        verify_cms(sig, DATA, trust=[cert])


@pytest.mark.parametrize(
    ("blob", "data", "fragment"),
    [
        (b"", DATA, "empty"),
        (b"\x30\x03\x02\x01\x01", DATA, "expected CMS/PKCS#7 data"),
        (bytes.fromhex("300d06092a864886f70d010701a000"), DATA, "CMS"),
    ],
)
def test_malformed_input_is_invalid_input(blob: bytes, data: bytes, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        verify_cms(blob, data, trust=[b"x"])


def test_detached_signature_without_data_and_empty_trust_are_input_errors() -> None:
    leaf, chain = _issue(KeyType.EC_P256)
    sig = sign_cms(signer(KeyType.EC_P256), leaf, DATA, chain=chain)
    with pytest.raises(InvalidInput, match="detached"):
        verify_cms(sig, trust=[chain[-1]])
    with pytest.raises(InvalidInput, match="no trust anchor"):
        verify_cms(sig, DATA, trust=[])


_LEAF, _CHAIN = _issue(KeyType.EC_P256)
_ATTACHED = sign_cms(signer(KeyType.EC_P256), _LEAF, DATA, chain=_CHAIN, detached=False)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(_ATTACHED) - 1), st.integers(1, 255), st.integers(0, 3))
def test_a_changed_byte_never_yields_other_content_or_a_stray_exception(
    pos: int, xor: int, cut: int
) -> None:
    blob = bytearray(_ATTACHED)
    blob[pos] ^= xor
    del blob[pos + 1 : pos + 1 + cut]
    try:
        result = verify_cms(bytes(blob), trust=[_CHAIN[-1]])
    except (InvalidInput, SignatureInvalid):
        return
    # Only unsigned bookkeeping (version numbers, the digestAlgorithms list) may change.
    assert result.content == DATA
    assert result.signer_certificate == _LEAF
