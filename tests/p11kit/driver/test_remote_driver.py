"""The SoftHSM driver suite (keys, signing, PINs) collected again, here through p11-kit-client.so.

The test functions are those of ``tests/softhsm``; this directory's conftest swaps the module
for the client module, so each runs against a token served by ``p11-kit server``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.softhsm

_DRIVER_TESTS = Path(__file__).resolve().parents[2] / "softhsm"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"p11kit_remote_{name}", _DRIVER_TESTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


# Not here: one wraps SoftHSM itself in pkcs11-spy; one asserts a key of every type, Ed25519
# included, which the RPC does not carry (test_remote_cli.py checks that refusal).
_LOCAL_ONLY = {"test_policy_violation_never_reaches_the_module", "test_keys_are_listed_with_type_and_halves"}
for _name in ("test_keys_signing", "test_pins"):
    globals().update({k: v for k, v in vars(_load(_name)).items() if k.startswith("test_") and k not in _LOCAL_ONLY})
