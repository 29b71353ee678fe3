"""The demo portal: `sitoken web demo` as one command over HTTPS, and its signing checks without a browser."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from web_support import ORGANISATION, enrol, make_ca

from sitoken.algorithms import Mechanism
from sitoken.web import AuthenticationFailed, AuthTokenVerifier, NonceStore, authentication_token
from sitoken.web.demo import DemoPortal

pytestmark = pytest.mark.softhsm

ORIGIN = "https://portal.test"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_signing_is_checked_over_the_portal_document_and_the_signer_must_be_who_logged_in(  # type: ignore[no-untyped-def]
        token, tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "ca")
    holder = enrol(token, ca, install=True)
    other = enrol(token, ca, key="org", subject=ORGANISATION, profile="organisation", organisation=True, install=True)
    portal = DemoPortal(AuthTokenVerifier(ORIGIN, [ca.chain[-1]], NonceStore(), intermediates=ca.chain[:-1]))
    sid, session = portal.session(None)
    with pytest.raises(AuthenticationFailed, match="log in first"):
        portal.start_signing(session, {"certificate": _b64(holder.certificate)})
    nonce = str(portal.nonce(sid, session)["nonce"])
    portal.login(sid, session, {"authToken": authentication_token(token, "auth", holder.certificate, ORIGIN, nonce)})
    renewed = portal.renew_id(sid)  # the id known before the login no longer reaches the session
    assert portal.session(renewed) == (renewed, session) and portal.session(sid)[1] is not session

    def sign(key: str, certificate: bytes, flip: bool = False) -> dict[str, object]:
        started = portal.start_signing(session, {"certificate": _b64(certificate)})
        digest = base64.b64decode(str(started["hash"]))
        assert started["hashAlgorithm"] == "SHA-256"
        assert digest == hashlib.sha256(str(started["document"]).encode()).digest()
        signature = bytearray(token.sign_digest(key, digest, Mechanism.ECDSA_SHA256))
        signature[-1] ^= flip
        return portal.finish_signing(session, {"certificate": _b64(certificate), "signature": _b64(bytes(signature)),
                                               "algorithm": "ecdsa-sha256"})

    with pytest.raises(AuthenticationFailed) as tampered:
        sign("auth", holder.certificate, flip=True)
    assert tampered.value.reason == "signature"
    with pytest.raises(AuthenticationFailed) as someone_else:
        sign("org", other.certificate)
    assert someone_else.value.reason == "not-the-holder"
    assert sign("auth", holder.certificate)["verified"] is True


class Demo:
    """`sitoken web demo` in a store of its own; what it printed with --json."""

    def __init__(self, tmp_path: Path, **pins: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF"}
        env.update(SITOKEN_SIM_DIR=str(tmp_path / "sim"), XDG_DATA_HOME=str(tmp_path / "data"), **pins)
        options = ["--so-pin-env", "SO", "--pin-env", "PIN"] if pins else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sitoken", "--json", "web", "demo", "--port", "0", *options],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert self.process.stdout is not None
        lines = []
        while not lines or lines[-1] != "}\n":
            line = self.process.stdout.readline().decode("utf-8")
            assert line, self.process.stderr.read() if self.process.stderr else ""
            lines.append(line)
        self.info = json.loads("".join(lines))

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """Over TLS to the listening address, as a browser with portal.test mapped there and its certificate trusted."""
        context = ssl.create_default_context(cafile=self.info["certificate"])
        host, port = self.info["listening"].rsplit(":", 1)
        connection = http.client.HTTPSConnection("portal.test", int(port), context=context, timeout=30)
        plain = socket.create_connection((host, int(port)))
        connection.sock = context.wrap_socket(plain, server_hostname="portal.test")
        connection.request(method, path, body=b"{}" if method == "POST" else None, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, answer.read()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def test_one_command_serves_the_demo_portal_over_https_and_a_second_start_reuses_its_holder(tmp_path: Path) -> None:
    demo = Demo(tmp_path, SO="so-pin-2468", PIN="user7pin3")
    try:
        assert demo.info["url"] == f"https://portal.test:{demo.info['listening'].rsplit(':', 1)[1]}/"
        assert f"--ignore-certificate-errors-spki-list={demo.info['spki_sha256']}" in demo.info["chromium"]
        status, page = demo.request("GET", "/")
        assert status == 200 and b"sitoken-web.js" in page
        status, library = demo.request("GET", "/sitoken-web.js")
        assert status == 200 and b"getSigningCertificate" in library
        status, refused = demo.request("POST", "/auth/login")  # no CSRF header: refused before anything
        assert (status, json.loads(refused)["error"]) == (403, "csrf")
    finally:
        demo.stop()
    again = Demo(tmp_path)  # no PIN given, none asked: the token and its certificate are there
    try:
        status, body = again.request("GET", "/auth/nonce")
        assert status == 200 and len(base64.b64decode(json.loads(body)["nonce"])) == 32
    finally:
        again.stop()


def test_a_host_name_that_is_no_name_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    from cli_support import invoke

    refused = invoke(["--json", "web", "demo", "--name", "a/../b", "--dir", str(tmp_path / "demo")], {})
    assert (refused.code, refused.json()["error"]) == (7, "invalid-input")
    assert not (tmp_path / "demo").exists()
