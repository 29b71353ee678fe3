"""Fixtures of the PC/SC test bed: a private pcscd, vpcd, and a fresh emulated OpenPGP card."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # testbed/ lives at the project root, outside src/

from testbed.pcsc_bed import OPENSC_MODULE, OpenScBed, PcscBed, opensc_env  # noqa: E402

from pcsc_support import FACTORY_ADMIN_PIN, FACTORY_PIN, bed_missing  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.pcsc)


@pytest.fixture
def openpgp(pcsc_bed: PcscBed, card: Path) -> Iterator[object]:
    from sitoken.pcsc.openpgp import OpenPgpCard

    token = OpenPgpCard.open(pcsc_bed.reader_name(0))
    yield token
    token.close()


@pytest.fixture
def keyed(openpgp: object) -> object:
    """The open card with an RSA key in the signature slot, nothing left verified."""
    from sitoken.pin import Pin
    from sitoken.token import KeyType

    with Pin(FACTORY_ADMIN_PIN) as admin:
        openpgp.login_admin(admin)  # type: ignore[attr-defined]
    openpgp.generate_key(KeyType.RSA2048, "sig")  # type: ignore[attr-defined]
    openpgp.logout()  # type: ignore[attr-defined]
    return openpgp


@pytest.fixture
def opensc(pcsc_bed: PcscBed, card: Path, monkeypatch: pytest.MonkeyPatch) -> OpenScBed:
    if not OPENSC_MODULE.exists():
        bed_missing(f"{OPENSC_MODULE} not found (apt package opensc)")
    env = opensc_env(pcsc_bed)
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # for modules loaded into this process
    return OpenScBed(OPENSC_MODULE, env, user_pin=FACTORY_PIN, so_pin=FACTORY_ADMIN_PIN)
