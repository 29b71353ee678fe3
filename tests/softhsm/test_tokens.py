"""Module loading, discovery and token selection against a real SoftHSM."""

from __future__ import annotations

import ctypes
import subprocess

import pytest

from sitoken.errors import InvalidInput, ModuleLoadError, TokenNotFound
from sitoken.pin import Pin
from sitoken.pkcs11 import (
    Module,
    Pkcs11Token,
    discover_modules,
    free_slot,
    resolve_module,
    select_token,
)
from sitoken.pkcs11.constants import CKR_CRYPTOKI_ALREADY_INITIALIZED

pytestmark = pytest.mark.softhsm

# Test-only PINs, the same as the conftest fixtures so_pin and user_pin.
SO_PIN = "so-pin-2468"
USER_PIN = "user7pin3"


def test_module_is_reinitialised_with_os_locking(module: Module) -> None:
    # A second C_Initialize must find the module already initialised by sitoken (OS locking);
    # calling it with the same arguments proves the module is live and accepts them.
    assert module.os_locking
    assert module.functions.call("C_Initialize", module.ffi.NULL) == CKR_CRYPTOKI_ALREADY_INITIALIZED


def test_module_resolution(softhsm_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_module("softhsm").path == softhsm_path
    assert resolve_module(softhsm_path).source == "option"
    assert resolve_module(None).source == "simulated"
    monkeypatch.setenv("SITOKEN_MODULE", "softhsm")
    assert resolve_module(None).source == "SITOKEN_MODULE"
    assert any(m.name == "softhsm" for m in discover_modules())
    with pytest.raises(ModuleLoadError):
        resolve_module("/nonexistent/module.so")
    with pytest.raises(ModuleLoadError):
        resolve_module("no-such-module-name")


def test_a_file_that_is_not_a_module_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fake = tmp_path / "fake.so"
    fake.write_bytes(b"not an ELF file")
    with pytest.raises(ModuleLoadError, match="cannot load"):
        Module.load(str(fake))


def test_init_token_is_seen_by_softhsm_util(module: Module) -> None:
    token = Pkcs11Token(module, free_slot(module))
    token.init_token(Pin(SO_PIN), "seen-by-util")
    shown = subprocess.run(["softhsm2-util", "--show-slots"], capture_output=True, text=True, check=True)
    assert "seen-by-util" in shown.stdout
    assert token.serial in shown.stdout
    info = token.info()
    assert info.initialized and not info.pin.initialized


def test_the_free_token_and_a_new_token_are_found_without_reading_the_whole_store(
    module: Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A counter's store gains a token per holder; provisioning one must not read every token's
    # info twice (once for the free token, once to find it again after C_InitToken).
    while len(module.token_infos()) < 6:
        Pkcs11Token(module, free_slot(module)).init_token(Pin(SO_PIN), "store-filler")
    read: list[int] = []
    real = module.token_info

    def counted(slot: int):  # type: ignore[no-untyped-def]
        read.append(slot)
        return real(slot)

    monkeypatch.setattr(module, "token_info", counted)
    token = Pkcs11Token(module, free_slot(module))
    token.init_token(Pin(SO_PIN), "found-again")
    monkeypatch.undo()
    assert len(read) <= 4 < len(module.slot_ids())  # free slot, capabilities, own slot, new slot
    assert select_token(module, "found-again").serial == token.serial == token.info().serial


def test_select_by_label_serial_and_uri(fresh_token: Pkcs11Token, module: Module) -> None:
    info = fresh_token.info()
    assert select_token(module, info.label).serial == info.serial
    assert select_token(module, info.serial).label == info.label
    assert select_token(module, info.uri).serial == info.serial
    assert select_token(module, f"pkcs11:token={info.label}").serial == info.serial
    with pytest.raises(TokenNotFound):
        select_token(module, "pkcs11:token=no-such-token")
    with pytest.raises(TokenNotFound):
        select_token(module, "no-such-token")


def test_ambiguous_selection_names_the_candidates(module: Module) -> None:
    for _ in range(2):
        Pkcs11Token(module, free_slot(module)).init_token(Pin(SO_PIN), "twin-label")
    with pytest.raises(TokenNotFound, match="several tokens match"):
        select_token(module, "twin-label")


def test_token_info_fields(fresh_token: Pkcs11Token) -> None:
    info = fresh_token.info().to_dict()
    for field in ("label", "serial", "manufacturer", "model", "pin", "so_pin", "uri", "flags"):
        assert field in info
    assert info["manufacturer"] == "SoftHSM project"
    assert info["pin"]["state"] == "ok"  # type: ignore[index]
    caps = fresh_token.capabilities
    assert caps.can_init_token and not caps.exact_retries
    assert len(caps.key_types) == 5


def test_bad_label_is_refused(module: Module) -> None:
    token = Pkcs11Token(module, free_slot(module))
    with pytest.raises(InvalidInput):
        token.init_token(Pin(SO_PIN), "x" * 33)


def test_ctypes_types_match_the_platform() -> None:
    # CK_ULONG is a C unsigned long on every platform sitoken supports.
    assert ctypes.sizeof(ctypes.c_ulong) in (4, 8)
