"""`sitoken web host` as the browser runs it: a subprocess spoken to in native-messaging frames."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from web_support import ID_NUMBER, ORGANISATION, Holder, enrol, host_environment, make_ca

from bed_support import require
from sitoken.token import KeyType
from sitoken.web import AuthTokenVerifier, NonceStore

pytestmark = pytest.mark.softhsm

STANDIN = str(Path(__file__).with_name("pinentry_standin.sh"))
PORTAL = "https://portal.test"
EXTENSION = "chrome-extension://abcdefghijklmnopabcdefghijklmnop/"


def frame(message: object) -> bytes:
    body = json.dumps(message).encode("utf-8")
    return struct.pack("=I", len(body)) + body


def replies(out: bytes) -> list[dict]:  # type: ignore[type-arg]
    found = []
    while out:
        (length,) = struct.unpack("=I", out[:4])
        found.append(json.loads(out[4:4 + length].decode("utf-8")))
        out = out[4 + length:]
    return found


class Host:
    """Runs the host once over a whole conversation, as a browser port would."""

    def __init__(self, holder: Holder, tmp_path: Path, pin: str = "user7pin3", cancel: bool = False,
                 module: tuple[str, ...] = (), **env: str) -> None:
        self.label = holder.token.info().label
        self.audit = tmp_path / "audit.log"
        self.dialog = tmp_path / "dialog.log"
        self.module = module
        self.env = host_environment(STANDIN_PIN=pin, STANDIN_LOG=str(self.dialog), **env)
        if cancel:
            self.env["STANDIN_CANCEL"] = "1"

    def talk(self, data: bytes) -> tuple[int, list[dict]]:  # type: ignore[type-arg]
        proc = subprocess.run(
            [sys.executable, "-m", "sitoken", "--pinentry", STANDIN, *self.module, "--token", self.label,
             "web", "host", "--audit-log", str(self.audit), EXTENSION],
            input=data, capture_output=True, env=self.env, timeout=60, check=False)
        return proc.returncode, replies(proc.stdout)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return make_ca(tmp_path_factory.mktemp("host-ca") / "ca")


@pytest.fixture()
def holder(fresh_token, ca) -> Holder:  # type: ignore[no-untyped-def]
    from sitoken.pin import Pin

    fresh_token.login(Pin("user7pin3"))
    made = enrol(fresh_token, ca, install=True)
    fresh_token.logout()
    return made


def request(ident: int, operation: str, origin: str = PORTAL, **params: object) -> dict:  # type: ignore[type-arg]
    return {"id": ident, "origin": origin, "operation": operation, "params": params}


def test_status_certificate_and_a_login_the_portal_accepts(holder: Holder, ca, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    nonces = NonceStore()
    nonce = nonces.issue("session-1")
    host = Host(holder, tmp_path)
    code, answers = host.talk(frame(request(1, "status")) + frame(request(2, "get-certificate"))
                              + frame(request(3, "authenticate", nonce=nonce)))
    assert code == 0, answers
    status, cert, auth = answers
    assert status["ok"] and status["result"]["token"]["label"] == host.label
    assert base64.b64decode(cert["result"]["certificate"]) == holder.certificate
    assert auth["id"] == 3 and auth["ok"], auth
    verifier = AuthTokenVerifier(PORTAL, [ca.root.public_bytes(serialization.Encoding.DER)], nonces,
                                 intermediates=ca.chain)
    assert verifier.verify(auth["result"], "session-1").id_number == ID_NUMBER
    # The holder saw who asks, in the dialog; the audit log has the request and no secret.
    assert PORTAL in host.dialog.read_text(encoding="utf-8")
    audit = host.audit.read_text(encoding="utf-8")
    entries = [json.loads(line) for line in audit.splitlines()]
    assert [(e["action"], e["outcome"], e["origin"]) for e in entries] == [
        ("web-status", "ok", PORTAL), ("web-get-certificate", "ok", PORTAL), ("web-authenticate", "ok", PORTAL)]
    assert "user7pin3" not in audit and nonce not in audit and auth["result"]["signature"] not in audit


def test_a_token_for_another_origin_does_not_verify_at_the_portal(holder: Holder, ca, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    nonces = NonceStore()
    nonce = nonces.issue("s")
    _, (auth,) = Host(holder, tmp_path).talk(frame(request(1, "authenticate", "https://evil.test", nonce=nonce)))
    assert auth["ok"]
    verifier = AuthTokenVerifier(PORTAL, [ca.root.public_bytes(serialization.Encoding.DER)], nonces,
                                 intermediates=ca.chain)
    from sitoken.web import AuthenticationFailed

    with pytest.raises(AuthenticationFailed, match="signature"):
        verifier.verify(auth["result"], "s")


def test_a_wrong_pin_and_a_closed_dialog_reach_the_page_as_errors(holder: Holder, tmp_path: Path) -> None:
    nonce = NonceStore().issue("s")
    _, (wrong,) = Host(holder, tmp_path, pin="wrong9pin").talk(frame(request(1, "authenticate", nonce=nonce)))
    assert (wrong["ok"], wrong["error"]) == (False, "pin-incorrect")
    _, (closed,) = Host(holder, tmp_path, cancel=True).talk(frame(request(2, "authenticate", nonce=nonce)))
    assert (closed["ok"], closed["error"]) == (False, "cancelled")


def test_a_pin_dialog_nobody_answers_times_out_and_the_host_answers_timeout(holder: Holder, tmp_path: Path) -> None:
    # Debian's pinentry-tty on a terminal of its own (the host's stderr: its stdin is the browser's
    # pipe), where nobody types: pinentry's own SETTIMEOUT closes the dialog, the host answers.
    pinentry = shutil.which("pinentry-tty")
    require(pinentry is not None, "pinentry-tty (Debian package pinentry-tty)")
    label = holder.token.info().label
    controller, terminal = os.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "sitoken", "--pinentry", str(pinentry), "--token", label, "web", "host",
             "--pin-timeout", "1", EXTENSION],
            input=frame(request(1, "authenticate", nonce=NonceStore().issue("s"))) + frame(request(2, "status")),
            stdout=subprocess.PIPE, stderr=terminal, env=host_environment(TERM="dumb"), timeout=60, check=False)
    finally:
        os.close(terminal)
        os.close(controller)
    assert proc.returncode == 0
    stalled, status = replies(proc.stdout)
    assert (stalled["ok"], stalled["error"]) == (False, "timeout"), stalled
    assert status["ok"] and status["result"]["token"]["label"] == label  # the host went on


def test_bad_messages_are_answered_and_the_host_goes_on(holder: Holder, tmp_path: Path) -> None:
    body = b"{not json"
    bad = [
        struct.pack("=I", len(body)) + body,
        frame([1, 2]),
        frame({"id": "1", "origin": PORTAL, "operation": "status"}),
        frame({"id": 1, "origin": PORTAL, "operation": "sign-everything"}),
        frame({"id": 1, "origin": PORTAL, "operation": "status", "params": []}),
        frame(request(1, "status", origin="http://evil.test")),
        frame({"id": 1, "operation": "status"}),
        frame(request(1, "authenticate", nonce="c2hvcnQ=")),
        frame(request(1, "authenticate", nonce=123)),
    ]
    code, answers = Host(holder, tmp_path).talk(b"".join(bad) + frame(request(9, "status")))
    assert code == 0
    assert [a["ok"] for a in answers] == [False] * len(bad) + [True]
    assert {a["error"] for a in answers[:-1]} == {"bad-message", "invalid-input"}


@pytest.mark.parametrize("data", [
    # A length over the limit: the host neither reads nor skips it, so the frame after it is not answered.
    struct.pack("=I", 0xFFFFFFF0) + b"{}" + frame(request(2, "status")),
    struct.pack("=I", 100) + b'{"id": 1',             # the stream ends inside a message
    b"\x01\x00",                                      # the stream ends inside a length
], ids=["oversized", "truncated-body", "truncated-length"])
def test_a_broken_stream_is_answered_once_and_the_host_stops(holder: Holder, tmp_path: Path, data: bytes) -> None:
    code, answers = Host(holder, tmp_path).talk(frame(request(1, "status")) + data)
    assert code == 1
    assert [a["ok"] for a in answers] == [True, False] and answers[1]["error"] == "framing"


def test_sign_a_document_hash_with_the_holder_certificate(holder: Holder, ca, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    digest = hashlib.sha256(b"benefit claim form").digest()
    mine = base64.b64encode(holder.certificate).decode()
    other = base64.b64encode(ca.root.public_bytes(serialization.Encoding.DER)).decode()
    good = base64.b64encode(digest).decode()
    host = Host(holder, tmp_path)
    _, (signed, not_mine, md5, short) = host.talk(
        frame(request(1, "sign", certificate=mine, hash=good, hashAlgorithm="SHA-256"))
        + frame(request(2, "sign", certificate=other, hash=good, hashAlgorithm="SHA-256"))
        + frame(request(3, "sign", certificate=mine, hash=good, hashAlgorithm="MD5"))
        + frame(request(4, "sign", certificate=mine, hash="c2hvcnQ=", hashAlgorithm="SHA-256")))
    assert signed["ok"] and signed["result"]["algorithm"] == "ecdsa-sha256", signed
    public = x509.load_der_x509_certificate(holder.certificate).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(base64.b64decode(signed["result"]["signature"]), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    assert [(a["ok"], a["error"]) for a in (not_mine, md5, short)] == [
        (False, "key-not-found"), (False, "invalid-input"), (False, "invalid-input")]
    # The holder consented in the dialog that named the origin and the hash.
    assert f"{PORTAL} asks you to sign a document" in host.dialog.read_text(encoding="utf-8")
    assert digest.hex()[:16].upper() in host.dialog.read_text(encoding="utf-8")


def test_the_holder_chooses_among_several_certificates_in_the_dialog(holder: Holder, ca, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sitoken.pin import Pin

    holder.token.login(Pin("user7pin3"))
    second = enrol(holder.token, ca, key="org", subject=ORGANISATION, profile="organisation", organisation=True,
                   install=True)
    holder.token.logout()
    _, (chosen,) = Host(holder, tmp_path, STANDIN_CHOICE="2").talk(frame(request(1, "get-certificate")))
    _, (refused,) = Host(holder, tmp_path, STANDIN_CHOICE="3").talk(frame(request(2, "get-certificate")))
    assert (refused["ok"], refused["error"]) == (False, "cancelled")
    # The dialog named who asks and listed both certificates by holder; number 2 is the one answered.
    got = base64.b64decode(chosen["result"]["certificate"])
    names = {holder.certificate: "张三", second.certificate: "某某有限公司"}
    other = names[second.certificate if got == holder.certificate else holder.certificate]
    shown = (tmp_path / "dialog.log").read_text(encoding="utf-8")
    assert PORTAL in shown and f"2: {names[got]}" in shown and f"1: {other}" in shown, shown


def test_sm2_login_and_signature_on_the_skf_token(skf_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sitoken.certs.sm2ca import Sm2LocalCA
    from sitoken.pin import Pin
    from sitoken.web.verify import document_hash

    sm2_ca = Sm2LocalCA.init(tmp_path / "sm2ca")
    skf_token.login(Pin("user7pin3"))
    holder = enrol(skf_token, sm2_ca, key="holder", key_type=KeyType.SM2, install=True)  # type: ignore[arg-type]
    skf_token.logout()
    nonces = NonceStore()
    nonce = nonces.issue("s")
    document = "社保 benefit claim".encode()
    algorithm, e = document_hash(holder.certificate, document)
    assert algorithm == "SM3"
    mine = base64.b64encode(holder.certificate).decode()
    _, (auth, signed, sha) = Host(holder, tmp_path, module=("--module", "skf")).talk(
        frame(request(1, "authenticate", nonce=nonce))
        + frame(request(2, "sign", certificate=mine, hash=base64.b64encode(e).decode(), hashAlgorithm="SM3"))
        + frame(request(3, "sign", certificate=mine, hash=base64.b64encode(e).decode(), hashAlgorithm="SHA-256")))
    assert auth["ok"] and auth["result"]["algorithm"] == "sm2-sm3", auth
    verifier = AuthTokenVerifier(PORTAL, [sm2_ca.chain[-1]], nonces, intermediates=sm2_ca.chain[:-1])
    assert verifier.verify(auth["result"], "s").id_number == ID_NUMBER
    assert signed["ok"] and signed["result"]["algorithm"] == "sm2-sm3", signed
    signature = base64.b64decode(signed["result"]["signature"])
    assert verifier.verify_signature(holder.certificate, document, signature, "sm2-sm3").id_number == ID_NUMBER
    assert (sha["ok"], sha["error"]) == (False, "invalid-input")  # an SM2 key signs SM3's e only
