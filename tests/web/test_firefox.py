"""The extension in Debian's Firefox ESR, headless: the same extension, page library, host and portal.

Firefox takes the unpacked extension as an unsigned add-on in the profile (ESR honours
``xpinstall.signatures.required``), reads the host manifest from ``~/.mozilla/native-messaging-hosts``
(HOME is the test's) and allows it by the extension's gecko ID. The portal is the demo's on
``http://localhost`` (Firefox has no switch to trust one certificate by its key, and the test
keeps the machine's trust stores untouched).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest
from test_browser import EXTENSION, Browser, DriverHandler, browser_holder, running
from test_native_host import STANDIN
from web_support import ID_NUMBER, host_environment

from bed_support import require
from sitoken.web import AuthTokenVerifier, NonceStore
from sitoken.web.demo import DemoPortal

pytestmark = pytest.mark.softhsm

LABEL = "web-firefox"
GECKO_ID = json.loads((EXTENSION / "manifest.json").read_text())["browser_specific_settings"]["gecko"]["id"]
PREFERENCES = {  # an unsigned add-on, enabled where it lies, and a quiet first start
    "xpinstall.signatures.required": False, "extensions.autoDisableScopes": 0, "extensions.enabledScopes": 15,
    "browser.shell.checkDefaultBrowser": False, "datareporting.policy.dataSubmissionEnabled": False,
    "browser.startup.homepage_override.mstone": "ignore", "app.update.enabled": False,
}


class LocalPortal(ThreadingHTTPServer):
    """The demo portal with the test driver, over plain HTTP on localhost (a development origin)."""

    daemon_threads = True

    def __init__(self, chain: tuple[bytes, ...]) -> None:
        super().__init__(("127.0.0.1", 0), DriverHandler)
        self.origin = f"http://localhost:{self.server_address[1]}"
        self.portal = DemoPortal(AuthTokenVerifier(self.origin, [chain[-1]], NonceStore(), intermediates=chain[:-1]))


class FirefoxDriver(Browser):
    def url(self, host_name: str) -> str:
        return super().url(host_name).replace("https://", "http://", 1)


@pytest.fixture(scope="module")
def firefox(module, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirefoxDriver]:  # type: ignore[no-untyped-def]
    program = shutil.which("firefox-esr")
    require(program is not None, "Firefox ESR (Debian package firefox-esr)")
    assert program is not None
    root = tmp_path_factory.mktemp("firefox")
    ca, _, store = browser_holder(module, root, LABEL)
    home, profile = root / "home", root / "profile"
    env = host_environment(HOME=str(home), SOFTHSM2_CONF=str(store.conf))
    installed = subprocess.run(
        [sys.executable, "-m", "sitoken", "--pinentry", STANDIN, "--token", LABEL, "web", "install",
         "--browser", "firefox"], capture_output=True, timeout=60, env=env)
    assert installed.returncode == 0, installed.stderr
    (profile / "extensions").mkdir(parents=True)
    with zipfile.ZipFile(profile / "extensions" / f"{GECKO_ID}.xpi", "w") as xpi:
        for part in EXTENSION.iterdir():
            xpi.write(part, part.name)
    (profile / "user.js").write_text("".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n"
                                             for k, v in PREFERENCES.items()))
    server = LocalPortal(ca.chain)
    DriverHandler.steps = {}
    driver = FirefoxDriver(root, profile, store.root, server.server_address[1])
    env["STANDIN_CONTROL"] = str(driver.control)
    with running(server, [program, "--headless", "--no-remote", "--profile", str(profile), driver.url("localhost")],
                 env):
        yield driver


@pytest.mark.timeout(180)
def test_login_in_firefox_names_the_holder(firefox: FirefoxDriver) -> None:
    # Firefox's own part is the extension and native messaging: the rest is Chromium's test, once.
    login = firefox.run("login")
    assert login["ok"], login
    assert login["result"]["holder"]["id_number"] == ID_NUMBER  # type: ignore[index]
