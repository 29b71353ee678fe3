"""The p11-kit bed for tests: a real `p11-kit server` in its own mount namespace, and the proxy."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from testbed.p11kit_bed import CLIENT_MODULE, PROXY_MODULE, USER_PIN, RemoteBed, missing_parts, proxy_home

from bed_support import require
from cli_support import Outcome

SPARES = 30  # tokens the driver tests re-initialise, one a test (tests/p11kit/driver)


@pytest.fixture(scope="session")
def remote_bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteBed]:
    """The server, with tokens remote1 and remote2 (RSA-2048 "rsa", P-256 "p256", Ed25519 "ed": pkcs11-tool).

    This process reaches it through p11-kit-client.so: the address must be in the
    environment before the client module is loaded.
    """
    missing = missing_parts()
    require(not missing, "p11-kit test bed: " + ", ".join(missing))
    bed = RemoteBed(tmp_path_factory.mktemp("p11kit")).start(["remote1", "remote2"], spares=SPARES)
    previous = os.environ.get("P11_KIT_SERVER_ADDRESS")
    os.environ["P11_KIT_SERVER_ADDRESS"] = bed.address
    yield bed
    if previous is None:
        os.environ.pop("P11_KIT_SERVER_ADDRESS", None)
    else:
        os.environ["P11_KIT_SERVER_ADDRESS"] = previous
    bed.stop()


@pytest.fixture(scope="session")
def proxy_env(tmp_path_factory: pytest.TempPathFactory, softhsm_path: str) -> dict[str, str]:
    """Environment for a process that reaches the test SoftHSM store through p11-kit-proxy.so."""
    require(os.path.exists(PROXY_MODULE), "p11-kit-proxy.so (Debian package p11-kit)")
    return proxy_home(tmp_path_factory.mktemp("proxy-home"), os.environ["SOFTHSM2_CONF"])


@pytest.fixture()
def remote_cli(remote_bed: RemoteBed) -> Callable[..., Outcome]:
    """`python -m sitoken` as a real process on p11-kit-client.so, the PIN in $PIN."""

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Outcome:
        done = subprocess.run(
            [sys.executable, "-m", "sitoken", *args], input=input, capture_output=True, text=True,
            env={**os.environ, **remote_bed.env(), "SITOKEN_MODULE": CLIENT_MODULE, "PIN": USER_PIN,
                 **(env or {})},
            timeout=120,
        )
        return Outcome(done.returncode, done.stdout, done.stderr)

    return run
