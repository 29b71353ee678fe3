"""Parse failures in plain words: what the file is and what was expected, never a parser's internals."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID

from sitoken.cli import exitcodes

pytestmark = pytest.mark.softhsm

# Texts the parsers underneath produce; none may reach a user.
INTERNALS = ("asn1crypto", "TbsCertificate", "Extra data", "ParseError", "UnexpectedTag", "Traceback",
             "trailing data", "InvalidData")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One small file of each kind a counter meets (made here, so nothing is canned)."""
    out = tmp_path_factory.mktemp("kinds")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3))
            .sign(key, hashes.SHA256()))
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    der = cert.public_bytes(serialization.Encoding.DER)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    p7 = pkcs7.serialize_certificates([cert], serialization.Encoding.DER)
    contents = {
        "holder.p12": pkcs12.serialize_key_and_certificates(
            b"h", key, cert, None, serialization.BestAvailableEncryption(b"pw")),
        "request.pem": csr.public_bytes(serialization.Encoding.PEM),
        "request.der": csr.public_bytes(serialization.Encoding.DER),
        "key.pem": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()),
        "cert.der": der, "cert.pem": pem, "joined.der": der + csr.public_bytes(serialization.Encoding.DER),
        "trailing.p7b": p7 + b"\0" * 99, "notes.txt": b"just some notes\n",
    }
    paths = {}
    for filename, data in contents.items():
        paths[filename] = out / filename
        paths[filename].write_bytes(data)
    return paths


CASES = [
    (("cert", "import", "{holder.p12}"), "expected a certificate, but the file is a PKCS#12 file"),
    (("cert", "import", "{request.pem}"), "expected a certificate, but the file is a certificate request (PEM)"),
    (("cert", "import", "{key.pem}"), "expected a certificate, but the file is a private key (PEM)"),
    (("cert", "import", "{joined.der}"), "bytes follow the end of the DER data"),
    (("cert", "import", "{notes.txt}"), "expected a certificate, but the file is text that is neither PEM nor base64"),
    (("ca", "issue", "{ca}", "--csr", "{cert.der}", "--days", "3", "--out", "{out}"),
     "expected a certificate request, but the file is a certificate (DER)"),
    (("ca", "issue", "{ca}", "--csr", "{holder.p12}", "--days", "3", "--out", "{out}"),
     "expected a certificate request, but the file is a PKCS#12 file"),
    (("verify", "--cms", "--sig", "{trailing.p7b}", "--trust", "{cert.pem}"), "99 bytes follow the end of the DER"),
    (("verify", "--cms", "--sig", "{request.der}", "--trust", "{cert.pem}"),
     "expected CMS/PKCS#7 data, but the file is a certificate request (DER)"),
]


@pytest.mark.parametrize(("args", "message"), CASES, ids=[" ".join(c[0][:2]) + " " + c[1][:30] for c in CASES])
def test_parse_failures_say_what_the_file_is(cli: Callable[..., object], sim_token: str, files: dict[str, Path],
                                             tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    ca = tmp_path / "ca"
    if "ca" in args:
        assert cli("ca", "init", str(ca)).code == 0  # type: ignore[attr-defined]
    values = {**{k: str(v) for k, v in files.items()}, "ca": str(ca), "out": str(tmp_path / "out.pem")}
    filled = [values.get(a[1:-1], a) if a.startswith("{") else a for a in args]
    pin = ("--pin-env", "PIN") if args[0] == "cert" else ()
    done = cli("--token", sim_token, *filled, *pin, "--json")
    assert done.code == exitcodes.INVALID_INPUT, done.err  # type: ignore[attr-defined]
    report = done.json()  # type: ignore[attr-defined]
    assert message in report["message"], report["message"]
    for internal in INTERNALS:
        assert internal not in report["message"] and internal not in done.err  # type: ignore[attr-defined]


def test_sm2_decryption_on_a_token_without_skf_containers_is_refused_before_a_pin(cli, sim_token,  # type: ignore[no-untyped-def]
                                                                                  tmp_path) -> None:
    # A well-formed GM/T 0009 ciphertext, so the refusal comes from the token and not the input.
    from sitoken.sm2 import Sm2Ciphertext

    blob = Sm2Ciphertext(x=b"\x01" * 32, y=b"\x02" * 32, hash=bytes(32), cipher=b"secret").to_der()
    (tmp_path / "msg.sm2").write_bytes(blob)
    # No --pin-env and no terminal: asking for a PIN would fail differently (usage, exit 2).
    done = cli("decrypt", "--token", sim_token, "--key", "k/enc", "--in", str(tmp_path / "msg.sm2"),
               "--out", str(tmp_path / "out"), "--json")
    assert done.code == 9, done.err
    assert "SKF containers" in done.err and not (tmp_path / "out").exists()
