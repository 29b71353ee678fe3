"""The rule for every test bed: a missing part skips locally and fails under CI=true."""

from __future__ import annotations

import os

import pytest

from sitoken.token import KeyType


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(condition: bool, what: str) -> None:
    """Skip when a test bed is missing, except under CI=true where that is a failure."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"test bed missing in CI: {what}", pytrace=False)
    pytest.skip(f"test bed missing: {what}")


def softhsm_key_types() -> tuple[KeyType, ...]:
    """The key types SoftHSM generates: all sitoken knows but SM2 (no open-source PKCS#11 SM2)."""
    return tuple(k for k in KeyType if k is not KeyType.SM2)
