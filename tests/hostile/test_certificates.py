"""Hostile certificates, bundles, requests and CMS: only InvalidInput or SignatureInvalid come out.

The contract (docs/certificates.md, "Errors"): malformed outside data raises InvalidInput;
a CMS that parses but does not verify raises SignatureInvalid. Anything else (ValueError,
IndexError, a RecursionError from deep DER) would reach the CLI as an internal error.
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone

from hostile_support import (
    SIGNED_CONTENT,
    chain_ders,
    cms_attached,
    cms_detached,
    csr_der,
    fuzz_settings,
    leaf_der,
    local_ca,
    mutated,
    p7b_der,
    p7b_pem,
    pem_bundle,
    root_der,
    run_parser,
)
from hypothesis import example, given
from hypothesis import strategies as st

from sitoken.certs import cert_info, csr_pem, load_certificates
from sitoken.errors import InvalidInput, SignatureInvalid
from sitoken.signing.cms import verify_cms

NOW = datetime.now(timezone.utc)  # the local CA's certificates start now


def _certificate_seeds() -> st.SearchStrategy[bytes]:
    return st.sampled_from(
        (leaf_der(), chain_ders()[1], pem_bundle(), p7b_der(), p7b_pem(), base64.b64encode(leaf_der()))
    )


def test_seeds_are_accepted() -> None:
    # The mutation tests start from these; they are worthless if the seeds themselves fail.
    assert load_certificates(pem_bundle()) == list(chain_ders())
    # A PKCS#7 SET OF certificates is stored sorted, so compare as sets.
    assert set(load_certificates(p7b_der())) == set(chain_ders())
    assert set(load_certificates(p7b_pem())) == set(chain_ders())
    assert cert_info(leaf_der(), chain=chain_ders()[1:], now=NOW).chain_complete
    assert local_ca().issue(csr_der()).certificate
    assert verify_cms(cms_attached(), trust=[root_der()]).content == SIGNED_CONTENT
    assert verify_cms(cms_detached(), SIGNED_CONTENT, trust=[root_der()]).detached


@fuzz_settings(max_examples=400)
@given(st.data())
def test_load_certificates_mutated(data: st.DataObject) -> None:
    blob = data.draw(mutated(data.draw(_certificate_seeds())))
    ders = run_parser("certs.load_certificates", (InvalidInput,), load_certificates, blob)
    for der in ders or ():
        # What load_certificates accepts, cert_info must describe without a surprise.
        run_parser("certs.cert_info", (InvalidInput,), cert_info, der, now=NOW)


@fuzz_settings(max_examples=150)
@given(st.binary(max_size=600) | st.text(max_size=300).map(str.encode))
@example(b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----")
@example(b"-----BEGIN PKCS7-----\nMAA=\n-----END PKCS7-----")
@example(b"0" * 4)  # bare base64 of nothing useful
@example(b"\x30\x80" + b"\x30\x80" * 2000)  # indefinite lengths nested deep
@example(b"\x30\x84\xff\xff\xff\xff")  # a length far beyond the data
def test_load_certificates_random(blob: bytes) -> None:
    run_parser("certs.load_certificates", (InvalidInput,), load_certificates, blob)


@fuzz_settings(max_examples=250)
@given(st.data())
def test_cert_info_with_hostile_chain(data: st.DataObject) -> None:
    der = data.draw(st.sampled_from(chain_ders()) | mutated(leaf_der()))
    chain = data.draw(st.lists(st.sampled_from(chain_ders()) | mutated(chain_ders()[1]), max_size=3))
    run_parser("certs.cert_info", (InvalidInput,), cert_info, der, chain=chain, now=NOW)


@fuzz_settings(max_examples=250)
@given(st.data())
def test_csr_loading_mutated(data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from((csr_der(), _pem_csr())))
    request = data.draw(mutated(seed) | st.binary(max_size=300))
    run_parser("certs.csr_pem", (InvalidInput,), csr_pem, request)
    issued = run_parser("certs.LocalCA.issue", (InvalidInput,), local_ca().issue, request)
    if issued is not None:
        # A request that survived mutation must still have been signed by its own key.
        assert load_certificates(issued.certificate)


def _pem_csr() -> bytes:
    body = base64.encodebytes(csr_der())
    return b"-----BEGIN CERTIFICATE REQUEST-----\n" + body + b"-----END CERTIFICATE REQUEST-----\n"


@fuzz_settings(max_examples=400)
@given(st.data())
def test_verify_cms_mutated(data: st.DataObject) -> None:
    attached = data.draw(st.booleans())
    blob = data.draw(mutated(cms_attached() if attached else cms_detached()))
    content = None if attached else data.draw(st.sampled_from((SIGNED_CONTENT, b"", b"x")))
    result = run_parser("signing.cms.verify_cms", (InvalidInput, SignatureInvalid),
                        verify_cms, blob, content, trust=[root_der()])
    if result is not None:
        # A mutation may hit unsigned bytes (an unused certificate); never the signed content.
        assert result.content == SIGNED_CONTENT


@fuzz_settings(max_examples=100)
@given(st.binary(max_size=400), st.none() | st.binary(max_size=20))
@example(b"", None)
@example(b"\x30\x03\x06\x01\x00", None)  # a ContentInfo with a truncated OID
def test_verify_cms_random(blob: bytes, content: bytes | None) -> None:
    run_parser("signing.cms.verify_cms", (InvalidInput, SignatureInvalid),
               verify_cms, blob, content, trust=[root_der()])


@fuzz_settings(max_examples=100)
@given(st.data())
def test_verify_cms_hostile_trust_anchor(data: st.DataObject) -> None:
    # The trust list comes from a file too (sitoken verify --trust FILE).
    anchor = data.draw(mutated(root_der()))
    run_parser("signing.cms.verify_cms", (InvalidInput, SignatureInvalid),
               verify_cms, cms_attached(), trust=[anchor])
