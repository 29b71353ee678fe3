"""The p11-kit bed for tests: a real `p11-kit server` in its own mount namespace, and the proxy."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from testbed.p11kit_bed import (
    CLIENT_MODULE,
    PROXY_MODULE,
    SOFTHSM_MODULE,
    USER_PIN,
    RemoteBed,
    SshRemote,
    missing_parts,
    registered_only,
)

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
    bed = RemoteBed(tmp_path_factory.mktemp("p11kit"))
    lifeline = bed.lifeline()  # the server stops with this process even when it is killed
    bed.start(["remote1", "remote2"], spares=SPARES)
    previous = os.environ.get("P11_KIT_SERVER_ADDRESS")
    os.environ["P11_KIT_SERVER_ADDRESS"] = bed.address
    yield bed
    if previous is None:
        os.environ.pop("P11_KIT_SERVER_ADDRESS", None)
    else:
        os.environ["P11_KIT_SERVER_ADDRESS"] = previous
    bed.stop()
    lifeline.cut()


@pytest.fixture(scope="session")
def proxy_prefix(tmp_path_factory: pytest.TempPathFactory, softhsm_path: str) -> list[str]:
    """Command prefix for a process whose p11-kit-proxy.so reaches the test SoftHSM store and nothing else."""
    require(os.path.exists(PROXY_MODULE), "p11-kit-proxy.so (Debian package p11-kit)")
    return registered_only(tmp_path_factory.mktemp("proxy-modules"), {"sitoken-softhsm": f"module: {SOFTHSM_MODULE}\n"})


@pytest.fixture()
def ssh_remote(tmp_path: Path) -> Iterator[SshRemote]:
    """A private sshd standing for the far machine of ``p11-kit remote`` (token far1, key p256)."""
    missing = missing_parts()
    require(not missing, "p11-kit remote over SSH: " + ", ".join(missing))
    remote = SshRemote(tmp_path / "far")
    lifeline = remote.lifeline()  # sshd stops with this process even when it is killed
    remote.start()
    yield remote
    remote.stop()
    lifeline.cut()


@pytest.fixture()
def remote_cli(remote_bed: RemoteBed) -> Callable[..., Outcome]:
    """`python -m sitoken` as a real process on p11-kit-client.so, the PIN in $PIN."""

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None,
            prefix: Sequence[str] = ()) -> Outcome:
        done = subprocess.run(
            [*prefix, sys.executable, "-m", "sitoken", *args], input=input, capture_output=True, text=True,
            env={**os.environ, **remote_bed.env(), "SITOKEN_MODULE": CLIENT_MODULE, "PIN": USER_PIN,
                 **(env or {})},
            timeout=120,
        )
        return Outcome(done.returncode, done.stdout, done.stderr)

    return run
