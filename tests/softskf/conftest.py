"""Fixtures of the softskf suite: the built library, a private store per test, a ready application."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from skf_client import LIBRARY, USER_TYPE, UTIL, Session, check, connect, dev_auth, ffi, load, util

from bed_support import require

ADMIN_PIN = "admin8642"
USER_PIN = "user13579"
ADMIN_TRIES = 4
USER_TRIES = 3


def require_built() -> None:
    """The token must be built (scripts/setup.sh does it): a skip locally, a failure under CI=true."""
    require(LIBRARY.exists() and UTIL.exists(), "softskf, built by scripts/setup.sh (make -C softskf)")


@pytest.fixture(scope="session")
def lib() -> Any:
    require_built()
    return load()


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty store of this test's own; the library reads SOFTSKF_DIR on every enumeration."""
    require_built()
    path = tmp_path / "skf"
    monkeypatch.setenv("SOFTSKF_DIR", str(path))
    for var in ("SOFTSKF_CONF", "SOFTSKF_QUIRKS", "SOFTSKF_TEST_PAUSE_WRITE", "SOFTSKF_LOCK_WAIT_MS"):
        monkeypatch.delenv(var, raising=False)
    return path


@pytest.fixture()
def device(store: Path) -> str:
    done = util(store, "create-device", "dev1", "--label", "Test Key", "--serial", "SN0001")
    assert done.returncode == 0, done.stderr
    return "dev1"


@pytest.fixture()
def session(lib: Any, device: str) -> Iterator[Session]:
    """dev1 with application "app": admin PIN 4 tries, user PIN 3 tries, anyone may create."""
    dev = connect(lib, device)
    check("SKF_DevAuth", dev_auth(lib, dev))
    app = ffi.new("HANDLE *")
    check("SKF_CreateApplication", lib.SKF_CreateApplication(
        dev, b"app", ADMIN_PIN.encode(), ADMIN_TRIES, USER_PIN.encode(), USER_TRIES, 0xFF, app))
    yield Session(lib, dev, app[0])
    lib.SKF_DisConnectDev(dev)


@pytest.fixture()
def logged_in(session: Session) -> Session:
    rv, _ = session.verify(USER_PIN, USER_TYPE)
    assert rv == 0
    return session
