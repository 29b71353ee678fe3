"""Two SoftHSM tokens holding keys of the same labels: what a signing pool runs on."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from sitoken.pin import Pin
from sitoken.pkcs11 import Pkcs11Token, free_slot
from sitoken.token import KeyType

SO_PIN, USER_PIN = "pool-so-2468", "pool7pin3"  # PINs of the pool tokens
_labels = itertools.count(1)


@pytest.fixture(scope="module")
def tokens(module) -> Iterator[list[Pkcs11Token]]:  # type: ignore[no-untyped-def]
    """Two fresh tokens, logged in, each with an RSA-2048 and a P-256 key (made once: RSA is slow)."""
    made = []
    for _ in range(2):
        token = Pkcs11Token(module, free_slot(module))
        token.init_token(Pin(SO_PIN), f"pool-{next(_labels)}")
        token.init_pin(Pin(SO_PIN), Pin(USER_PIN))
        token.login(Pin(USER_PIN))
        token.generate_key(KeyType.RSA2048, "rsa")
        token.generate_key(KeyType.EC_P256, "p256")
        made.append(token)
    yield made
    for token in made:
        token.close()


@pytest.fixture()
def pool_pin() -> str:
    return USER_PIN
