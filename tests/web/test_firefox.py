"""The extension in Debian's Firefox ESR, headless: the same extension, page library, host and portal.

Firefox takes the unpacked extension as an unsigned add-on in the profile (ESR honours
``xpinstall.signatures.required``), reads the host manifest from ``~/.mozilla/native-messaging-hosts``
(HOME is the test's) and allows it by the extension's gecko ID. The portal is the demo's over
HTTPS on ``portal.test``, as in Chromium: the profile's own NSS database trusts the demo's
certificate (``certutil -A``; the machine's trust stores stay untouched) and the preference
``network.dns.forceResolve`` sends every name to 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_browser import EXTENSION, PORTAL, Browser, DriverHandler, browser_holder, running
from test_native_host import STANDIN
from web_support import ID_NUMBER, host_environment

from bed_support import require
from sitoken.web.demo import DemoServer, TlsFiles, tls_files

pytestmark = pytest.mark.softhsm

LABEL = "web-firefox"
GECKO_ID = json.loads((EXTENSION / "manifest.json").read_text())["browser_specific_settings"]["gecko"]["id"]
PREFERENCES = {  # an unsigned add-on, enabled where it lies, and a quiet first start
    "xpinstall.signatures.required": False, "extensions.autoDisableScopes": 0, "extensions.enabledScopes": 15,
    "browser.shell.checkDefaultBrowser": False, "datareporting.policy.dataSubmissionEnabled": False,
    "browser.startup.homepage_override.mstone": "ignore", "app.update.enabled": False,
    "network.dns.forceResolve": "127.0.0.1",  # portal.test (and every other name) is this machine
}


def trust(profile: Path, tls: TlsFiles) -> None:
    """The profile's own certificate database (NSS, as Firefox keeps it), trusting the demo's certificate."""
    require(shutil.which("certutil") is not None, "certutil (Debian package libnss3-tools)")
    for command in (["-N", "--empty-password"], ["-A", "-n", "sitoken-demo", "-t", "CT,,", "-i", str(tls.certificate)]):
        done = subprocess.run(["certutil", *command, "-d", f"sql:{profile}"], capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def firefox(module, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:  # type: ignore[no-untyped-def]
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
    tls = tls_files(root / "tls", PORTAL)
    trust(profile, tls)
    server = DemoServer([ca.chain], ("127.0.0.1", 0), PORTAL, tls, handler=DriverHandler)
    DriverHandler.steps = {}
    driver = Browser(root, profile, store.root, server.port)
    env["STANDIN_CONTROL"] = str(driver.control)
    with running(server, [program, "--headless", "--no-remote", "--profile", str(profile), driver.url(PORTAL)], env):
        yield driver


@pytest.mark.timeout(180)
def test_login_in_firefox_over_https_names_the_holder(firefox: Browser) -> None:
    # Firefox's own part is the extension and native messaging: the rest is Chromium's test, once.
    login = firefox.run("login")
    assert login["ok"], login
    assert login["result"]["holder"]["id_number"] == ID_NUMBER  # type: ignore[index]
