"""Vendor profiles: chosen by configuration, manufacturer or file name; what a module cannot
carry is refused before any call reaches it."""

from __future__ import annotations

import logging

import pytest

from sitoken.errors import InvalidInput, MechanismUnsupported, NotSupported
from sitoken.pkcs11 import Pkcs11Token
from sitoken.pkcs11.constants import CKM
from sitoken.pkcs11.profiles import PROFILE_ENV, SPEC, profile_for, profile_named
from sitoken.token import KeyType, Mechanism

pytestmark = pytest.mark.softhsm


def test_profile_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    assert profile_for("SoftHSM", "/usr/lib/softhsm/libsofthsm2.so") is SPEC
    assert profile_for("PKCS#11 Kit", "/opt/other.so").name == "p11-kit"
    assert profile_for("x", "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so").name == "p11-kit"
    monkeypatch.setenv(PROFILE_ENV, "p11-kit")
    assert profile_for("SoftHSM", "/usr/lib/softhsm/libsofthsm2.so").name == "p11-kit"
    with pytest.raises(InvalidInput, match="no PKCS#11 vendor profile"):
        profile_named("no-such-vendor")


def test_what_the_module_cannot_carry_is_refused_before_any_call(
    token: Pkcs11Token, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    token.generate_key(KeyType.ED25519, "ed")
    assert Mechanism.EDDSA in token.capabilities.mechanisms
    monkeypatch.setenv(PROFILE_ENV, "p11-kit")  # SoftHSM taken for a module behind p11-kit's RPC
    token._profile = None
    assert Mechanism.EDDSA not in token.capabilities.mechanisms
    assert CKM.EDDSA in profile_named("p11-kit").cannot_carry
    caplog.set_level(logging.DEBUG, logger="sitoken.pkcs11")
    with pytest.raises(MechanismUnsupported, match="p11-kit's RPC") as refused:
        token.sign("ed", b"doc")
    assert isinstance(refused.value, NotSupported)
    assert "C_SignInit" not in caplog.text and "C_Sign(" not in caplog.text
    assert "C_FindObjects" in caplog.text  # the trace was on: the lookup of the key shows
