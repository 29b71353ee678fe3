"""Shared fixtures: the SoftHSM test bed, fresh tokens, and the rule that CI never skips a bed."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

from bed_support import require

# Property tests on a shared, loaded machine: a slow example is not a failure (no deadline);
# the example counts stay as each test sets them.
settings.register_profile("sitoken", deadline=None)
settings.load_profile("sitoken")

# The store must be chosen before any test loads the SoftHSM module (once per process).
_BED = Path(tempfile.mkdtemp(prefix="sitoken-test-"))
os.environ["SITOKEN_SIM_DIR"] = str(_BED / "sim")
os.environ["SOFTHSM2_CONF"] = str(_BED / "sim" / "softhsm2.conf")
os.environ.pop("SITOKEN_MODULE", None)
# The software SKF token's store, private to the run like SoftHSM's (softskf reads it per call).
os.environ["SOFTSKF_DIR"] = str(_BED / "softskf")
os.environ.pop("SOFTSKF_CONF", None)
# libpcsclite reads PCSCLITE_CSOCK_NAME once per process: any PC/SC call (the discovery
# fallback tries cards) must already go to the test bed's private pcscd, never the system one.
PCSC_DIR = _BED / "pcsc"
PCSC_DIR.mkdir()
os.environ["SITOKEN_TEST_PCSC_DIR"] = str(PCSC_DIR)
os.environ["PCSCLITE_CSOCK_NAME"] = str(PCSC_DIR / "pcscd.comm")

# The PC/SC bed's fixtures (pcsc_bed, card) and the PostgreSQL bed's (pg_bed,
# fresh_database) live in one module each, for every test directory.
pytest_plugins = ["pcsc_support", "pg_support", "skf_bed"]

SO_PIN = "so-pin-2468"
USER_PIN = "user7pin3"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_BED, ignore_errors=True)


# Under pytest-xdist (scripts/test.sh runs `-n auto --dist loadgroup`) each worker is a process of
# its own, with its own beds (the directory above, pcscd, PostgreSQL). The tests of a directory
# whose session bed is costly to make all go to one worker, so that bed is made once per run.
_ONE_WORKER = {"docs": "docs-site", "p11kit": "p11kit-server"}
_TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = _ONE_WORKER.get(item.path.relative_to(_TESTS).parts[0])
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def softhsm_path() -> str:
    from sitoken.pkcs11.softhsm import SimStore, softhsm_module

    path = softhsm_module()
    require(path is not None, "SoftHSM (Debian package softhsm2)")
    require(shutil.which("softhsm2-util") is not None, "softhsm2-util")
    SimStore.default().ensure()
    assert path is not None
    return path


@pytest.fixture(scope="session")
def module(softhsm_path: str):  # type: ignore[no-untyped-def]
    from sitoken.pkcs11 import Module

    return Module.load(softhsm_path)


_labels = itertools.count(1)


@pytest.fixture()
def fresh_token(module, request):  # type: ignore[no-untyped-def]
    """A newly initialised token (SO and user PINs set) that no other test touches."""
    from sitoken.pin import Pin
    from sitoken.pkcs11 import Pkcs11Token, free_slot

    token = Pkcs11Token(module, free_slot(module))
    label = f"t{next(_labels)}-{request.node.name[:20]}"
    token.init_token(Pin(SO_PIN), label)
    token.init_pin(Pin(SO_PIN), Pin(USER_PIN))
    yield token
    token.close()


@pytest.fixture()
def token(fresh_token):  # type: ignore[no-untyped-def]
    """A fresh token, logged in as the user."""
    from sitoken.pin import Pin

    fresh_token.login(Pin(USER_PIN))
    return fresh_token


@pytest.fixture()
def so_pin() -> str:
    return SO_PIN


@pytest.fixture()
def user_pin() -> str:
    return USER_PIN
