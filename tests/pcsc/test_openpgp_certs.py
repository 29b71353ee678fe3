"""The certificate services (CSR, chain import, CMS) unchanged on the OpenPGP card driver."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sitoken.certs import LocalCA, build_csr, to_pem
from sitoken.certs.ontoken import TokenSigner, certificate_for_key, install_certificates, token_certificates
from sitoken.errors import InvalidInput
from sitoken.pcsc.openpgp import OpenPgpCard
from sitoken.pin import Pin
from sitoken.signing.cms import sign_cms, verify_cms
from sitoken.token import KeyType

FACTORY_PIN = "123456"
FACTORY_ADMIN_PIN = "12345678"


@pytest.fixture
def keyed_card(openpgp: OpenPgpCard) -> OpenPgpCard:
    openpgp.login_admin(Pin(FACTORY_ADMIN_PIN))
    openpgp.generate_key(KeyType.RSA2048, "sig")
    openpgp.login(Pin(FACTORY_PIN))
    return openpgp


def test_csr_import_and_cms_on_the_card(keyed_card: OpenPgpCard, tmp_path: Path) -> None:
    request = build_csr(TokenSigner(keyed_card, "sig"), "CN=李四,OU=Individual-1,C=CN")
    (tmp_path / "req.der").write_bytes(request)
    check = subprocess.run(["openssl", "req", "-verify", "-in", tmp_path / "req.der", "-inform", "DER", "-noout"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr

    ca = LocalCA.init(tmp_path / "ca")
    leaf, chain = ca.issue(request, days=365)
    installed = install_certificates(keyed_card, to_pem([leaf, *chain]))
    # One certificate slot: the card keeps the holder's certificate and none of the chain.
    assert installed.added_chain == () and installed.certificate.der == leaf
    assert [c.der for c in token_certificates(keyed_card)] == [leaf]
    assert keyed_card.read_certificate() == leaf

    data = "退休审批 2026-11".encode()
    cms = sign_cms(TokenSigner(keyed_card, "sig"), certificate_for_key(keyed_card, "sig").der, data, chain=chain)
    assert verify_cms(cms, data, trust=[ca.chain[-1]]).signer_certificate == leaf


def test_certificate_for_another_key_leaves_the_card_unchanged(keyed_card: OpenPgpCard, tmp_path: Path) -> None:
    from sitoken.certs import SoftwareSigner

    ca = LocalCA.init(tmp_path / "ca")
    stranger = SoftwareSigner.generate(KeyType.RSA2048)
    leaf, chain = ca.issue(build_csr(stranger, "CN=someone else,C=CN"), days=365)
    with pytest.raises(InvalidInput):
        install_certificates(keyed_card, to_pem([leaf, *chain]), key="sig")
    assert token_certificates(keyed_card) == []
