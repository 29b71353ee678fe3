"""The web channel in Debian's Chromium, headless: the demo portal over HTTPS on test host names,
the page library, the extension, the native host and the verifier, with one browser per module.

The portal is `sitoken web demo`'s (`DemoServer`), plus a driver page on its origin that runs the
steps a test asks for and posts back what the page saw. Each of the browser's native-messaging
requests starts the host anew, so a test changes what the holder types (the stand-in pinentry's
control files), the launcher or the token store between steps, as a holder or a crash would.
"""

from __future__ import annotations

import base64
import contextlib
import json
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from test_native_host import STANDIN
from web_support import ID_NUMBER, host_environment, make_ca

from bed_support import require
from sitoken.token import KeyType
from sitoken.web.demo import DemoHandler, DemoServer, enrol_holder, tls_files
from sitoken.web.install import host_files, install

# One Chromium for the module: its tests stay on one xdist worker (see tests/conftest.py).
pytestmark = [pytest.mark.softhsm, pytest.mark.xdist_group("web-chromium")]

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "web" / "extension"
PORTAL, REBIND = "portal.test", "rebind.test"  # both mapped to 127.0.0.1 by Chromium's resolver rules
PIN = "user7pin3"
LABEL = "web-browser"

# The steps a test can run in a tab; each result (or error, with its code) is posted back.
DRIVER = """<!doctype html><title>driver</title>
<script src="/sitoken-web.js"></script><script src="/demo.js"></script><script>
const tab = new URLSearchParams(location.search).get("tab");
let lastToken = null;
async function nonce() { return (await (await fetch("/auth/nonce")).json()).nonce; }
const steps = {
  async go(url) { setTimeout(() => { location.href = url; }, 0); return url; },
  async login() { const out = await sitokenDemo.login(); lastToken = out.authToken; return out; },
  async replay() { return sitokenDemo.post("/auth/login", { authToken: lastToken }); },
  sign: () => sitokenDemo.signDocument(),
  status: () => sitoken.status(),
  async authenticate() { return sitoken.authenticate(await nonce()); },
  async impatient() { return sitoken.authenticate(await nonce(), { timeoutMs: 1500 }); },
  async twoAtOnce() {  // the second request of this tab while the first waits for the holder
    const first = sitoken.authenticate(await nonce());
    const second = sitoken.getSigningCertificate();
    return (await Promise.allSettled([first, second])).map(
      (o) => o.status === "fulfilled" ? { ok: true } : { ok: false, code: o.reason.code });
  },
};
async function run(step) {
  try { return { ok: true, result: await steps[step.name](step.arg) }; }
  catch (e) { return { ok: false, code: e.code || e.error, reason: e.reason, remaining: e.remaining,
                       message: e.message }; }
}
(async () => {
  for (;;) {
    const step = await (await fetch(`/test/next?tab=${tab}`)).json();
    if (!step.name) continue;
    const outcome = await run(step);
    await fetch(`/test/result?id=${step.id}`, { method: "POST", body: JSON.stringify(outcome) });
  }
})();
</script>"""


class DriverHandler(DemoHandler):
    """The demo portal, plus the driver page and its step queue (test-only paths under /test/)."""

    steps: ClassVar[dict[str, queue.Queue[dict[str, object]]]] = {}
    outcomes: ClassVar[dict[int, queue.Queue[dict[str, object]]]] = {}

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/test/driver.html":
            self.send(200, DRIVER.encode(), "text/html")
        elif path == "/test/next":
            try:
                step = self.steps[query.removeprefix("tab=")].get(timeout=5)
            except queue.Empty:
                step = {}
            self.send_json(200, step)
        else:
            super().do_GET()

    def do_POST(self) -> None:
        if not self.path.startswith("/test/result?id="):
            super().do_POST()
            return
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.outcomes[int(self.path.rsplit("=", 1)[1])].put(json.loads(body))
        self.send_json(200, {})


class Browser:
    """One headless Chromium showing one driver page, and the knobs a test turns between steps."""

    def __init__(self, root: Path, profile: Path, store: Path, port: int) -> None:
        self.control, self.profile, self.store, self.port = root / "control", profile, store, port
        self.control.mkdir()
        self.set_pin(PIN)
        self._next = 0
        self.page = ""

    def url(self, host_name: str) -> str:
        """A new page key for the driver at ``host_name``: a page that navigated away takes no more steps."""
        self._next += 1
        self.page = f"{host_name}-{self._next}"
        DriverHandler.steps[self.page] = queue.Queue()
        return f"https://{host_name}:{self.port}/test/driver.html?tab={self.page}"

    def go(self, host_name: str) -> None:
        """Navigate the page to the driver at ``host_name`` (its origin is then that name's)."""
        old = self.page
        assert self.run("go", self.url(host_name), page=old)["ok"]

    def use_host(self, *selection: str) -> None:
        """Rewrite the launcher as `sitoken web install` would, with this token selection."""
        command = [sys.executable, "-m", "sitoken", "--pinentry", STANDIN, *selection, "web", "host"]
        install(host_files("chromium", self.profile / "NativeMessagingHosts"), command, ())

    def set_pin(self, pin: str) -> None:
        (self.control / "pin").write_text(pin)

    def knob(self, name: str, value: str | None) -> None:
        """Set (or with None, clear) a stand-in pinentry control: delay, crash, cancel."""
        path = self.control / name
        if value is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(value)

    def run(self, step: str, arg: str | None = None, *, page: str | None = None) -> dict[str, object]:
        self._next += 1
        answer: queue.Queue[dict[str, object]] = queue.Queue()
        DriverHandler.outcomes[self._next] = answer
        DriverHandler.steps[page or self.page].put({"id": self._next, "name": step, "arg": arg})
        try:
            return answer.get(timeout=60)
        except queue.Empty:
            raise AssertionError(f"the page {page or self.page} never reported step {step}") from None


def browser_holder(module, root: Path, label: str):  # type: ignore[no-untyped-def]
    """A SoftHSM token ``label`` with the demo holder's certificate, copied into a store of the browser's own.

    The copy is what the browser's hosts see (SOFTHSM2_CONF in their environment), so a test
    can take it away, as a holder pulls a USB-Key, without touching this process's SoftHSM.
    """
    from sitoken.pin import Pin
    from sitoken.pkcs11 import Pkcs11Token, free_slot
    from sitoken.pkcs11.softhsm import SimStore

    ca = make_ca(root / "ca")
    token = Pkcs11Token(module, free_slot(module))
    token.init_token(Pin("so-pin-2468"), label)
    token.init_pin(Pin("so-pin-2468"), Pin(PIN))
    token.login(Pin(PIN))
    certificate = enrol_holder(token, ca)
    token.close()
    store = SimStore(root / "store").ensure()
    source = next(d for d in SimStore.default().tokens.iterdir() if label.encode() in (d / "token.object").read_bytes())
    shutil.copytree(source, store.tokens / source.name)
    return ca, certificate, store


@pytest.fixture(scope="module")
def holder_ca(module, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return browser_holder(module, tmp_path_factory.mktemp("browser"), LABEL)


@pytest.fixture(scope="module")
def skf_holder(skf_library: str, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """An SKF device of the software token with an SM2 holder certificate from an SM2 local CA."""
    from sitoken import skf
    from sitoken.certs.sm2ca import Sm2LocalCA
    from sitoken.pin import Pin
    from skf_bed import new_skf_token

    sm2_ca = Sm2LocalCA.init(tmp_path_factory.mktemp("sm2") / "ca")
    name = new_skf_token()
    with skf.open_token("skf", name) as token:
        token.login(Pin(PIN))
        certificate = enrol_holder(token, sm2_ca, key="holder", key_type=KeyType.SM2)
    return sm2_ca, name, certificate


@pytest.fixture(scope="module")
def browser(holder_ca, skf_holder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:  # type: ignore[no-untyped-def]
    chromium = shutil.which("chromium")
    require(chromium is not None, "Chromium (Debian package chromium)")
    assert chromium is not None
    ca, _, store = holder_ca
    sm2_ca, _, _ = skf_holder
    root = tmp_path_factory.mktemp("chromium")
    profile = root / "profile"
    installed = subprocess.run(
        [sys.executable, "-m", "sitoken", "--pinentry", STANDIN, "--token", LABEL, "web", "install",
         "--user-data-dir", str(profile)], capture_output=True, timeout=60)
    assert installed.returncode == 0, installed.stderr
    tls = tls_files(root / "tls", PORTAL)
    server = DemoServer([ca.chain, sm2_ca.chain], ("127.0.0.1", 0), PORTAL, tls, handler=DriverHandler)
    DriverHandler.steps = {}
    driver = Browser(root, profile, store.root, server.port)
    env = host_environment(SOFTHSM2_CONF=str(store.conf), STANDIN_CONTROL=str(driver.control))
    command = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", f"--disable-extensions-except={EXTENSION}",
               f"--load-extension={EXTENSION}", f"--host-resolver-rules=MAP {PORTAL} 127.0.0.1, MAP {REBIND} 127.0.0.1",
               f"--ignore-certificate-errors-spki-list={tls.spki_sha256}",
               driver.url(PORTAL)]  # one page: headless Chromium opens no more than one from its command line
    with running(server, command, env):
        yield driver


@contextlib.contextmanager
def running(server: ThreadingHTTPServer, browser: list[str], env: dict[str, str]) -> Iterator[None]:
    """The portal serving in a thread and the browser on its driver page, both stopped at the end."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    process = subprocess.Popen(browser, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        process.terminate()
        process.wait(30)
        server.shutdown()
        server.server_close()


@pytest.mark.timeout(180)
def test_login_over_https_names_the_holder_and_a_replayed_token_is_refused(browser: Browser) -> None:
    login = browser.run("login")
    assert login["ok"], login
    holder = login["result"]["holder"]  # type: ignore[index]
    assert (holder["id_number"], holder["name"]) == (ID_NUMBER, "张三")
    replay = browser.run("replay")
    assert (replay["ok"], replay["code"], replay["reason"]) == (False, "authentication-failed", "nonce-unknown")


@pytest.mark.timeout(180)
def test_a_dns_rebinding_name_gets_nothing_bound_to_the_portal_origin(browser: Browser) -> None:
    # rebind.test resolves to the portal's own address and port: the browser still calls its origin
    # https://rebind.test:PORT, the host signs for that, and the portal (checking its own) refuses.
    browser.go(REBIND)
    try:
        rebound = browser.run("login")
    finally:
        browser.go(PORTAL)
    assert (rebound["ok"], rebound["code"], rebound["reason"]) == (False, "authentication-failed", "signature")


@pytest.mark.timeout(180)
def test_the_signing_certificate_and_a_document_signature_the_portal_verifies(browser: Browser, holder_ca) -> None:  # type: ignore[no-untyped-def]
    _, certificate, _ = holder_ca
    assert browser.run("login")["ok"]
    # getSigningCertificate, then sign: the portal hashed its document, checks the signature over it
    # (a flipped bit is refused: tests/web/test_demo.py) and that the signer is who logged in.
    signed = browser.run("sign")
    assert signed["ok"], signed
    result = signed["result"]
    assert base64.b64decode(result["certificate"]) == certificate  # type: ignore[index]
    assert result["verified"] and result["signer"]["id_number"] == ID_NUMBER  # type: ignore[index]


@pytest.mark.timeout(180)
def test_one_request_at_a_time_per_tab(browser: Browser) -> None:
    browser.knob("delay", "1")  # the holder takes a second over the first PIN dialog
    try:
        outcome = browser.run("twoAtOnce")
    finally:
        browser.knob("delay", None)
    assert outcome["result"] == [{"ok": True}, {"ok": False, "code": "busy"}]  # the later tests: free again


@pytest.mark.timeout(180)
def test_a_page_that_stops_waiting_gets_timeout_and_the_stalled_host_is_stopped(browser: Browser) -> None:
    browser.knob("delay", "20")  # the PIN dialog stays open: nobody answers it
    try:
        stalled = browser.run("impatient")
    finally:
        browser.knob("delay", None)
    assert (stalled["ok"], stalled["code"]) == (False, "timeout"), stalled
    # The extension closed the request's port: the browser stopped that host, the tab is free.
    after = browser.run("authenticate")
    assert after["ok"], after
    deadline = time.monotonic() + 10
    while hosts_of(browser.control) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not hosts_of(browser.control)


def hosts_of(control: Path) -> list[int]:
    """The running `sitoken web host` processes started by this module's browser."""
    found = []
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if (proc.name.isdigit() and b"web\0host" in (proc / "cmdline").read_bytes()
                    and f"STANDIN_CONTROL={control}".encode() in (proc / "environ").read_bytes().split(b"\0")):
                found.append(int(proc.name))
    return found


@pytest.mark.timeout(180)
def test_host_failures_reach_the_page_as_typed_errors_and_the_next_request_works(browser: Browser) -> None:
    manifest = browser.profile / "NativeMessagingHosts" / "cn.sitoken.web.json"
    manifest.rename(manifest.with_suffix(".off"))
    try:
        missing = browser.run("status")
    finally:
        manifest.with_suffix(".off").rename(manifest)
    assert (missing["ok"], missing["code"]) == (False, "no-host")
    browser.knob("crash", "1")  # the host is killed while the PIN dialog is open
    try:
        crashed = browser.run("authenticate")
    finally:
        browser.knob("crash", None)
    assert (crashed["ok"], crashed["code"]) == (False, "host-crashed")
    browser.knob("cancel", "1")
    try:
        closed = browser.run("authenticate")
    finally:
        browser.knob("cancel", None)
    # A new host answered after the crash: the holder's closed dialog reached the page.
    assert (closed["ok"], closed["code"]) == (False, "cancelled")


@pytest.mark.timeout(180)
def test_a_removed_token_and_a_wrong_pin_reach_the_page_as_typed_errors(browser: Browser) -> None:
    tokens = browser.store / "tokens"
    pulled = browser.store / "pulled"
    tokens.rename(pulled)  # the USB-Key is pulled between two requests
    tokens.mkdir()
    try:
        removed = browser.run("authenticate")
    finally:
        tokens.rmdir()
        pulled.rename(tokens)
    assert (removed["ok"], removed["code"]) == (False, "token-not-found"), removed
    browser.set_pin("wrong9pin")
    try:
        wrong = browser.run("authenticate")
    finally:
        browser.set_pin(PIN)
    assert (wrong["ok"], wrong["code"]) == (False, "pin-incorrect"), wrong


@pytest.mark.timeout(180)
def test_sm2_on_the_skf_token_login_signing_a_wrong_pin_with_tries_left_the_final_try_and_a_locked_pin(  # type: ignore[no-untyped-def]
        browser: Browser, skf_holder) -> None:
    from sitoken import skf
    from sitoken.errors import PinIncorrect, PinLocked
    from sitoken.pin import Pin

    _, name, certificate = skf_holder
    browser.use_host("--module", "skf", "--token", name)
    try:
        login = browser.run("login")
        assert login["ok"] and login["result"]["holder"]["id_number"] == ID_NUMBER, login  # type: ignore[index]
        # The portal gives the page e = SM3(Z ‖ M) with hashAlgorithm SM3; the SKF token signs it.
        signed = browser.run("sign")
        assert signed["ok"] and base64.b64decode(signed["result"]["certificate"]) == certificate, signed  # type: ignore[index]
        browser.set_pin("wrong9pin")
        wrong = browser.run("authenticate")
        assert (wrong["ok"], wrong["code"], wrong["remaining"]) == (False, "pin-incorrect", 5), wrong
        with skf.open_token("skf", name) as token:  # the holder tries on, elsewhere, down to one try
            for _ in range(4):
                with pytest.raises(PinIncorrect):
                    token.login(Pin("wrong9pin"))
        browser.set_pin(PIN)
        last = browser.run("authenticate")  # sitoken sends no PIN that could lock the token
        assert (last["ok"], last["code"]) == (False, "pin-final-try"), last
        with skf.open_token("skf", name) as token, pytest.raises(PinLocked):
            token.login(Pin("wrong9pin"), force=True)
        locked = browser.run("authenticate")
        assert (locked["ok"], locked["code"]) == (False, "pin-locked"), locked
    finally:
        browser.set_pin(PIN)
        browser.use_host("--token", LABEL)
