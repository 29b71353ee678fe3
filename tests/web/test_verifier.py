"""sitoken.web's verifier against tokens signed on SoftHSM with certificates from a local CA."""

from __future__ import annotations

import base64
import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from web_support import CREDIT_CODE, ID_NUMBER, ORGANISATION, Holder, enrol, make_ca

from sitoken.certs import SoftwareSigner
from sitoken.errors import InvalidInput
from sitoken.token import KeyType
from sitoken.web import (
    AuthenticationFailed,
    AuthTokenVerifier,
    NonceStore,
    authentication_token,
    check_origin,
)

pytestmark = pytest.mark.softhsm

PORTAL = "https://portal.test"
_sessions = itertools.count()


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return make_ca(tmp_path_factory.mktemp("web-ca") / "ca")


@pytest.fixture()
def holder(token, ca) -> Holder:  # type: ignore[no-untyped-def]
    return enrol(token, ca)


def verifier(ca, clock=None, **kwargs) -> AuthTokenVerifier:  # type: ignore[no-untyped-def]
    store = NonceStore(clock=clock) if clock else NonceStore()
    return AuthTokenVerifier(PORTAL, [ca.root.public_bytes(serialization.Encoding.DER)], store,
                             intermediates=ca.chain, **kwargs)


def login(v: AuthTokenVerifier, holder: Holder, origin: str = PORTAL) -> tuple[str, dict[str, str]]:
    session = f"s{next(_sessions)}"
    nonce = v.nonces.issue(session)
    return session, authentication_token(holder.token, holder.key, holder.certificate, origin, nonce)


def refused(v: AuthTokenVerifier, token: object, session: str) -> str:
    with pytest.raises(AuthenticationFailed) as info:
        v.verify(token, session)
    return info.value.reason


def test_a_token_from_the_portal_origin_names_the_holder(holder: Holder, ca) -> None:  # type: ignore[no-untyped-def]
    v = verifier(ca)
    session, token = login(v, holder)
    who = v.verify(token, session)
    assert (who.kind, who.name, who.id_number, who.credit_code) == ("personal", "张三", ID_NUMBER, None)
    assert who.profile == "personal" and "Issuing CA" in who.issuer


def test_rsa_and_an_organisation_certificate(token, ca) -> None:  # type: ignore[no-untyped-def]
    holder = enrol(token, ca, key="org", key_type=KeyType.RSA2048, subject=ORGANISATION,
                   profile="organisation", organisation=True)
    v = verifier(ca)
    session, auth = login(v, holder)
    assert auth["algorithm"] == "rsa-pkcs-sha256"
    who = v.verify(auth, session)
    assert (who.kind, who.name, who.credit_code, who.id_number) == ("organisation", "某某有限公司", CREDIT_CODE, None)


def test_a_token_signed_for_another_origin_is_refused(holder: Holder, ca) -> None:  # type: ignore[no-untyped-def]
    v = verifier(ca)
    session, token = login(v, holder, origin="https://evil.test")
    assert refused(v, token, session) == "signature"


def test_a_replayed_token_is_refused(holder: Holder, ca) -> None:  # type: ignore[no-untyped-def]
    v = verifier(ca)
    session, token = login(v, holder)
    v.verify(token, session)
    assert refused(v, token, session) == "nonce-unknown"
    # Nor in another session: its nonce is a different one.
    other = "other-session"
    v.nonces.issue(other)
    assert refused(v, token, other) == "signature"


def test_a_failed_attempt_uses_the_nonce_up(holder: Holder, ca) -> None:  # type: ignore[no-untyped-def]
    v = verifier(ca)
    session, token = login(v, holder)
    assert refused(v, {**token, "signature": base64.b64encode(b"x" * 64).decode()}, session) == "signature"
    assert refused(v, token, session) == "nonce-unknown"


def test_an_expired_nonce_is_refused(holder: Holder, ca) -> None:  # type: ignore[no-untyped-def]
    now = [1000.0]
    v = verifier(ca, clock=lambda: now[0])
    session, token = login(v, holder)
    now[0] += v.nonces.lifetime + 1
    assert refused(v, token, session) == "nonce-expired"


def test_a_certificate_from_another_ca_is_refused(token, tmp_path: Path, ca) -> None:  # type: ignore[no-untyped-def]
    stranger = enrol(token, make_ca(tmp_path / "other", name="Other CA"))
    v = verifier(ca)
    session, auth = login(v, stranger)
    assert refused(v, auth, session) == "certificate-untrusted"


def test_an_expired_certificate_is_refused(holder: Holder, ca) -> None:  # type: ignore[no-untyped-def]
    v = verifier(ca)
    session, token = login(v, holder)
    with pytest.raises(AuthenticationFailed) as info:
        v.verify(token, session, now=datetime.now(timezone.utc) + timedelta(days=40))
    assert info.value.reason == "certificate-validity"


def _leaf_with(ca, holder: Holder, usage: x509.KeyUsage, eku: list[x509.ObjectIdentifier]) -> bytes:  # type: ignore[no-untyped-def]
    """A certificate for the holder's token key from the CA's issuing key, with the given usages."""
    issuer = SoftwareSigner.from_pem((ca.directory / "intermediate.key").read_bytes())
    public = serialization.load_der_public_key(holder.token.public_key_der(holder.key))
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=张三,OU=Individual-1"))
            .issuer_name(ca.issuer.subject).public_key(public).serial_number(x509.random_serial_number())  # type: ignore[arg-type]
            .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(usage, critical=True).add_extension(x509.ExtendedKeyUsage(eku), critical=False)
            .sign(issuer.private_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def _usage(**on: bool) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{n: on.get(n, False) for n in names})


@pytest.mark.parametrize(("usage", "eku"), [
    (_usage(content_commitment=True), [ExtendedKeyUsageOID.CLIENT_AUTH]),
    (_usage(digital_signature=True), [ExtendedKeyUsageOID.SERVER_AUTH]),
], ids=["non-repudiation-only", "server-auth-only"])
def test_a_certificate_not_for_authentication_is_refused(holder: Holder, ca, usage, eku) -> None:  # type: ignore[no-untyped-def]
    wrong = Holder(holder.token, holder.key, _leaf_with(ca, holder, usage, eku), ca)
    v = verifier(ca)
    session, token = login(v, wrong)
    assert refused(v, token, session) == "key-usage"
    # The same forgery path with the right usages passes: the refusal above is about usage alone.
    right = Holder(holder.token, holder.key,
                   _leaf_with(ca, holder, _usage(digital_signature=True), [ExtendedKeyUsageOID.CLIENT_AUTH]), ca)
    session, token = login(v, right)
    assert v.verify(token, session).name == "张三"


@pytest.mark.parametrize("bad", [
    None, [], {}, {"format": "sitoken-auth:1"},
    "FIELDS-WITH-WRONG-FORMAT", "FIELDS-WITH-BAD-BASE64", "FIELDS-WITH-UNKNOWN-ALGORITHM",
])
def test_malformed_tokens_are_refused_and_use_the_nonce(holder: Holder, ca, bad) -> None:  # type: ignore[no-untyped-def]
    v = verifier(ca)
    session, token = login(v, holder)
    changes = {"FIELDS-WITH-WRONG-FORMAT": {"format": "web-eid:1.0"},
               "FIELDS-WITH-BAD-BASE64": {"signature": "not base64!"},
               "FIELDS-WITH-UNKNOWN-ALGORITHM": {"algorithm": "md5-rsa"}}
    bad_token = {**token, **changes[bad]} if isinstance(bad, str) else bad
    assert refused(v, bad_token, session) == "malformed"
    assert refused(v, token, session) == "nonce-unknown"


def test_nonces_are_random_base64_of_32_bytes_and_bound_to_their_session() -> None:
    store = NonceStore()
    first, second = store.issue("a"), store.issue("b")
    assert first != second and len(base64.b64decode(first)) == 32
    assert store.take("b") == (second, "")
    assert store.take("b") == (None, "unknown")
    assert store.issue("a") != first  # a new nonce voids the session's earlier one
    with pytest.raises(InvalidInput):
        store.issue("")


@pytest.mark.parametrize("origin", [
    "http://portal.test", "https://portal.test/", "https://portal.test/login", "https://user@portal.test",
    "chrome-extension://abc", "", "https://", " https://portal.test", "http://localhost.evil.test",
])
def test_only_https_or_loopback_origins(origin: str) -> None:
    with pytest.raises(InvalidInput):
        check_origin(origin)


@pytest.mark.parametrize("origin", ["https://portal.test", "https://portal.test:8443", "http://localhost:8765",
                                    "http://127.0.0.1:9"])
def test_good_origins(origin: str) -> None:
    assert check_origin(origin) == origin
