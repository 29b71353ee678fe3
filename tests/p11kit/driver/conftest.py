"""The PKCS#11 driver tests again, on tokens served by the remote bed through p11-kit-client.so.

``module`` is the client module here, so the shared ``fresh_token``/``token`` fixtures
initialise new tokens through the RPC. A test whose key type or mechanism the module cannot
carry is skipped, by what the driver declares (its capabilities and vendor profile), not by
name: ``test_remote_cli.py`` checks that those are refused.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from testbed.p11kit_bed import CLIENT_MODULE, SO_PIN, USER_PIN

from sitoken.pin import Pin
from sitoken.token import KeyType, Mechanism


@pytest.fixture(scope="session")
def module(remote_bed):  # type: ignore[no-untyped-def]
    from sitoken.pkcs11 import Module

    return Module.load(CLIENT_MODULE)


_spares = itertools.count(1)


def _spare(module, label: str):  # type: ignore[no-untyped-def]
    """The next spare token of the bed, re-initialised: what ``free_slot`` gives elsewhere."""
    from sitoken.pkcs11 import Pkcs11Token

    token = Pkcs11Token.open(module, f"spare-{next(_spares)}")
    token.init_token(Pin(SO_PIN), label)
    token.init_pin(Pin(SO_PIN), Pin(USER_PIN))
    return token


@pytest.fixture()
def fresh_token(module, request):  # type: ignore[no-untyped-def]
    token = _spare(module, f"r-{request.node.name[:28]}")
    yield token
    token.close()


@pytest.fixture(scope="module")
def remote_keyed(module) -> Iterator:  # type: ignore[no-untyped-def]
    """One token with a key of every type the client can carry (RSA is slow to make: once a file)."""
    token = _spare(module, "remote-keyed")
    token.login(Pin(USER_PIN))
    for kt in token.capabilities.key_types:
        token.generate_key(kt, f"k-{kt.value}")
    yield token
    token.close()


@pytest.fixture()
def keyed_token(remote_keyed):  # type: ignore[no-untyped-def]
    return remote_keyed


@pytest.fixture(autouse=True)
def _carried_only(request: pytest.FixtureRequest, module) -> None:  # type: ignore[no-untyped-def]
    callspec = getattr(request.node, "callspec", None)
    params = callspec.params.values() if callspec else ()
    wanted_types = [p for p in params if isinstance(p, KeyType)]
    wanted_mechanisms = [p for p in params if isinstance(p, Mechanism)]
    if "ed25519" in request.node.name:
        wanted_types.append(KeyType.ED25519)
    if not (wanted_types or wanted_mechanisms):
        return
    from sitoken.pkcs11 import Pkcs11Token

    caps = Pkcs11Token.open(module, "remote1").capabilities
    missing = [t.value for t in wanted_types if t not in caps.key_types]
    missing += [m.value for m in wanted_mechanisms if m not in caps.mechanisms]
    if missing:
        pytest.skip(f"not among what the module declares it can do: {', '.join(dict.fromkeys(missing))}")
