"""Login in Debian's Chromium, headless: the page library, the extension, the native host and the verifier."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from test_native_host import STANDIN
from web_support import ID_NUMBER, Holder, enrol, make_ca

from bed_support import require
from sitoken.web import AuthenticationFailed, AuthTokenVerifier, NonceStore

pytestmark = pytest.mark.softhsm

ROOT = Path(__file__).resolve().parents[2]
# The extension's ID follows from the public key in its manifest (SHA-256, first 16 bytes, hex as a-p).
_KEY = base64.b64decode(json.loads((ROOT / "web" / "extension" / "manifest.json").read_text())["key"])
EXTENSION_ID = "".join("abcdefghijklmnop"[int(c, 16)] for c in hashlib.sha256(_KEY).hexdigest()[:32])
EXTENSION = ROOT / "web" / "extension"
PAGE = """<!doctype html><title>portal</title><script src="/sitoken-web.js"></script><script>
async function run() {
  const report = {};
  try {
    report.status = await sitoken.status();
    const nonce = (await (await fetch("/nonce")).json()).nonce;
    report.token = await sitoken.authenticate(nonce);
  } catch (e) { report.error = e.code || String(e); }
  await fetch("/result", {method: "POST", body: JSON.stringify(report)});
}
run();
</script>"""


class Portal(BaseHTTPRequestHandler):
    nonces: NonceStore
    results: list[dict]  # type: ignore[type-arg]
    done: threading.Event

    def do_GET(self) -> None:
        if self.path == "/sitoken-web.js":
            self._send((ROOT / "web" / "sitoken-web.js").read_bytes(), "text/javascript")
        elif self.path == "/nonce":
            self._send(json.dumps({"nonce": self.nonces.issue("browser-session")}).encode(), "application/json")
        else:
            self._send(PAGE.encode(), "text/html")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.results.append(json.loads(self.rfile.read(length)))
        self._send(b"{}", "application/json")
        self.done.set()

    def _send(self, body: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def holder(fresh_token, tmp_path: Path) -> Holder:  # type: ignore[no-untyped-def]
    from sitoken.pin import Pin

    fresh_token.login(Pin("user7pin3"))
    made = enrol(fresh_token, make_ca(tmp_path / "ca"), install=True)
    fresh_token.logout()
    return made


def run_page(holder: Holder, tmp_path: Path, page_host: str, **env: str) -> tuple[str, dict]:  # type: ignore[type-arg]
    """Install the host for a fresh profile, open the portal page at ``page_host`` in Chromium, return its report."""
    chromium = shutil.which("chromium")
    require(chromium is not None, "Chromium (Debian package chromium)")
    assert chromium is not None
    profile = tmp_path / "profile"
    installed = subprocess.run(
        [sys.executable, "-m", "sitoken", "--pinentry", STANDIN, "--token", holder.token.info().label, "web",
         "install", "--user-data-dir", str(profile)], capture_output=True, timeout=60)
    assert installed.returncode == 0, installed.stderr
    assert EXTENSION_ID in (profile / "NativeMessagingHosts" / "cn.sitoken.web.json").read_text()
    Portal.nonces, Portal.results, Portal.done = NonceStore(), [], threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://{page_host}:{server.server_address[1]}"
    browser = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", f"--disable-extensions-except={EXTENSION}", f"--load-extension={EXTENSION}",
         f"{origin}/portal.html"],
        env={**os.environ, "STANDIN_PIN": "user7pin3", **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert Portal.done.wait(120), "the page never reported"
    finally:
        browser.terminate()
        browser.wait(30)
        server.shutdown()
    (report,) = Portal.results
    return f"http://localhost:{server.server_address[1]}", report


def portal_verifier(holder: Holder, portal: str) -> AuthTokenVerifier:
    return AuthTokenVerifier(portal, [holder.ca.root.public_bytes(serialization.Encoding.DER)], Portal.nonces,
                             intermediates=holder.ca.chain)


@pytest.mark.timeout(180)
def test_login_in_chromium_reaches_the_portal_verifier(holder: Holder, tmp_path: Path) -> None:
    portal, report = run_page(holder, tmp_path, "localhost")
    assert "error" not in report, report
    assert report["status"]["token"]["label"] == holder.token.info().label
    assert portal_verifier(holder, portal).verify(report["token"], "browser-session").id_number == ID_NUMBER


@pytest.mark.timeout(180)
def test_a_token_got_by_a_page_of_another_origin_is_refused_by_the_portal(holder: Holder, tmp_path: Path) -> None:
    # Same server, same port, another origin (127.0.0.1): the browser, not the page, names it.
    portal, report = run_page(holder, tmp_path, "127.0.0.1")
    assert "token" in report, report
    with pytest.raises(AuthenticationFailed) as refused:
        portal_verifier(holder, portal).verify(report["token"], "browser-session")
    assert refused.value.reason == "signature"


@pytest.mark.timeout(180)
def test_a_closed_pin_dialog_reaches_the_page_as_cancelled(holder: Holder, tmp_path: Path) -> None:
    _, report = run_page(holder, tmp_path, "localhost", STANDIN_CANCEL="1")
    assert report.get("error") == "cancelled" and "token" not in report
