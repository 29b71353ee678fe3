"""Keys and certificates written by OpenSC's pkcs11-tool: sitoken pairs them by public key."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bed_support import require
from sitoken.certs import LocalCA, build_csr
from sitoken.certs.ontoken import TokenSigner, certificate_for_key, chain_for, token_certificates
from sitoken.errors import KeyNotFound
from sitoken.pkcs11 import Pkcs11Token
from sitoken.signing.cms import sign_cms, verify_cms

pytestmark = pytest.mark.softhsm


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return LocalCA.init(tmp_path_factory.mktemp("ca") / "ca", name="Interop Test CA", with_intermediate=True)


class Tool:
    """OpenSC's pkcs11-tool, logged in to one token: it writes the objects, not sitoken."""

    def __init__(self, token: Pkcs11Token, pin: str) -> None:
        require(shutil.which("pkcs11-tool") is not None, "pkcs11-tool (Debian package opensc)")
        self.token, self.pin = token, pin

    def run(self, *args: str) -> str:
        done = subprocess.run(["pkcs11-tool", "--module", self.token.module.path, "--token-label",
                               self.token.label, "--login", "--pin", self.pin, *args],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def keypair(self, label: str, *id_args: str) -> None:
        self.run("--keypairgen", "--key-type", "EC:prime256v1", "--label", label, *id_args)

    def write_cert(self, directory: Path, der: bytes, label: str, *id_args: str) -> None:
        path = directory / f"{label}.der"
        path.write_bytes(der)
        self.run("--write-object", str(path), "--type", "cert", "--label", label, *id_args)


@pytest.fixture()
def tool(token: Pkcs11Token, user_pin: str) -> Tool:
    return Tool(token, user_pin)


def _issue(token: Pkcs11Token, ca: LocalCA, key: str) -> bytes:
    leaf, _ = ca.issue(build_csr(TokenSigner(token, key), f"CN={key},O=Interop"), days=30)
    return leaf


def test_keys_without_id_and_a_chain_stored_by_pkcs11_tool(
    token: Pkcs11Token, tool: Tool, ca: LocalCA, tmp_path: Path
) -> None:
    tool.keypair("k1")
    tool.keypair("k2")
    assert {k.id for k in token.keys()} == {""}  # pkcs11-tool sets no CKA_ID unless told
    leaves = {key: _issue(token, ca, key) for key in ("k1", "k2")}
    for key in ("k2", "k1"):
        tool.write_cert(tmp_path, leaves[key], f"cert-{key}")
    for n, der in enumerate(ca.chain):
        tool.write_cert(tmp_path, der, f"ca-{n}")
    # No CKA_CERTIFICATE_CATEGORY on any of them: basicConstraints must tell the CAs apart.
    assert not any(c.authority for c in token.certificates())

    listed = {c.label: c for c in token_certificates(token)}
    assert {label: (c.authority, c.key) for label, c in listed.items()} == {
        "cert-k1": (False, "k1"), "cert-k2": (False, "k2"), "ca-0": (True, None), "ca-1": (True, None)}
    assert listed["cert-k1"].info.chain_complete
    for key in ("k1", "k2"):
        mine = certificate_for_key(token, key)
        assert mine.der == leaves[key]
        assert chain_for(token, mine)[1:] == list(ca.chain)
    # What `sitoken sign --cms` does with them: the chain travels, the root verifies it.
    signature = sign_cms(TokenSigner(token, "k2"), leaves["k2"], b"data", chain=chain_for(token, mine)[1:])
    assert verify_cms(signature, b"data", trust=[ca.chain[-1]]).signer_certificate == leaves["k2"]


def test_certificate_stored_under_another_keys_id(
    token: Pkcs11Token, tool: Tool, ca: LocalCA, tmp_path: Path
) -> None:
    tool.keypair("a", "--id", "01")
    tool.keypair("b", "--id", "02")
    leaf_a = _issue(token, ca, "a")
    tool.write_cert(tmp_path, leaf_a, "mislabelled", "--id", "02")

    (listed,) = token_certificates(token)
    assert listed.id == "02" and listed.key == "a"
    assert certificate_for_key(token, "a").der == leaf_a
    with pytest.raises(KeyNotFound):
        certificate_for_key(token, "b")
