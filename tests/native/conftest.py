"""Fixtures for the native fast path: one token with a key of every type, and both signing paths."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers_native import KEY_TYPES, SO_PIN, USER_PIN, require_native

from sitoken._native_loader import DISABLE_ENV
from sitoken.pin import Pin


@pytest.fixture(scope="session")
def batch_token(module):  # type: ignore[no-untyped-def]
    """A logged-in token holding one key pair per key type, shared by the native tests."""
    from sitoken.pkcs11 import Pkcs11Token, free_slot

    token = Pkcs11Token(module, free_slot(module))
    token.init_token(Pin(SO_PIN), "native-batch")
    token.init_pin(Pin(SO_PIN), Pin(USER_PIN))
    token.login(Pin(USER_PIN))
    for key_type in KEY_TYPES:
        token.generate_key(key_type, key_type.value)
    yield token
    token.close()


@pytest.fixture(params=["native", "python"])
def signing_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Runs a test once on the extension and once on the fallback (SITOKEN_NO_NATIVE=1)."""
    if request.param == "native":
        require_native()
        monkeypatch.delenv(DISABLE_ENV, raising=False)
    else:
        monkeypatch.setenv(DISABLE_ENV, "1")
    yield request.param
