"""The extension itself: version check, SITOKEN_NO_NATIVE, the hand-written ABI, C_InitToken,
login with PIN wiping, and the batch call's failure contract."""

from __future__ import annotations

import itertools

import pytest
from helpers_native import SO_PIN, require_native

from sitoken import __version__
from sitoken._native_loader import DISABLE_ENV, native_status
from sitoken._native_module import CKU_SO, NativeModule
from sitoken.errors import PinIncorrect
from sitoken.pin import Pin
from sitoken.signing.batch import SITOKEN_ECDSA_DER, batch_key_for, size_t_array
from sitoken.token import KeyType

pytestmark = pytest.mark.native
CKM_RSA_PKCS, CKR_DATA_LEN_RANGE, CKR_GENERAL_ERROR, CKR_OK = 0x1, 0x21, 0x5, 0x0


@pytest.fixture()
def native_module(softhsm_path: str) -> NativeModule:
    require_native()
    return NativeModule.open(softhsm_path)


def test_extension_matches_package_version(monkeypatch):
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    require_native()
    status = native_status()
    assert status.version == __version__ and status.active


def test_environment_variable_turns_native_off(monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, "1")
    status = native_status()
    assert not status.active and DISABLE_ENV in status.reason


@pytest.mark.softhsm
def test_function_list_matches_exported_symbols(native_module, module):
    assert native_module.function_list_check() == 0


@pytest.mark.softhsm
def test_init_token_and_so_login_wipe_the_pin(native_module, module):
    from sitoken.pkcs11 import free_slot

    slot = free_slot(module).slot_id
    native_module.init_token(slot, Pin(SO_PIN), "native-init")
    found = [i for i in module.token_infos() if i.label == "native-init"]
    assert len(found) == 1
    new_slot = found[0].slot_id  # SoftHSM moves an initialised token to a new slot id
    assert native_module.token_info(new_slot).label == "native-init"

    ffi, lib = native_module.ffi, native_module.lib
    wrong = bytearray(b"not-the-so-pin")
    session = ffi.new("CK_SESSION_HANDLE *")
    with ffi.from_buffer("unsigned char[]", wrong, require_writable=True) as buf:
        rv = lib.sitoken_login(native_module.handle, new_slot, CKU_SO, buf, len(wrong), session)
    assert rv == 0xA0 and wrong == bytearray(len(wrong))  # refused, and the bytes are zeroed

    with pytest.raises(PinIncorrect) as caught:
        native_module.login(new_slot, Pin("still-wrong"), CKU_SO)
    assert caught.value.rv == 0xA0 and caught.value.function == "C_Login"
    pin = Pin(SO_PIN)
    handle = native_module.login(new_slot, pin, CKU_SO)
    assert len(pin) == 0  # wiped after use
    native_module.logout(handle)


@pytest.mark.softhsm
def test_batch_failure_reports_lowest_index_and_keeps_the_prefix(native_module, batch_token):
    # CKM_RSA_PKCS refuses inputs longer than the modulus minus 11 bytes: input 7 fails.
    key = batch_key_for(batch_token, KeyType.RSA2048.value)
    inputs = [b"%02d" % i * 10 for i in range(40)]
    inputs[7] = b"x" * 300
    ffi, lib = native_module.ffi, native_module.lib
    data = b"".join(inputs)
    offsets = size_t_array(itertools.accumulate(map(len, inputs), initial=0))
    out = ffi.new("unsigned char[]", 40 * 256)
    lens = ffi.new("size_t[]", 40)
    err = ffi.new("sitoken_batch_error *")
    rv = lib.sitoken_sign_batch(
        native_module.handle, key.slot_id, key.handle, CKM_RSA_PKCS, ffi.NULL, 0,
        ffi.from_buffer("unsigned char[]", data), ffi.from_buffer("size_t[]", offsets), 40,
        out, 256, lens, 2, 0, err,
    )
    # The spec's code would be CKR_DATA_LEN_RANGE; SoftHSM 2.6.1 says CKR_GENERAL_ERROR.
    assert rv == err.rv and rv in (CKR_DATA_LEN_RANGE, CKR_GENERAL_ERROR)
    assert err.index == 7 and ffi.string(err.function) == b"C_Sign"
    lengths = ffi.unpack(lens, 40)
    assert lengths[:7] == [256] * 7 and set(lengths[7:]) == {0}


@pytest.mark.softhsm
def test_reference_loop_and_bad_arguments(native_module, batch_token):
    key = batch_key_for(batch_token, KeyType.EC_P256.value)
    ffi, lib = native_module.ffi, native_module.lib
    out = ffi.new("unsigned char[]", 64)
    out_len = ffi.new("size_t *")
    err = ffi.new("sitoken_batch_error *")
    digest = bytes(range(32))
    rv = lib.sitoken_bench_reference(native_module.handle, key.slot_id, key.handle, 0x1041,
                                     ffi.NULL, 0, digest, 32, 25, out, 64, out_len, err)
    assert rv == CKR_OK and out_len[0] == 64
    rv = lib.sitoken_sign_batch(native_module.handle, key.slot_id, key.handle, 0x1041, ffi.NULL,
                                0, digest, ffi.NULL, 1, out, 64, ffi.NULL, 0,
                                SITOKEN_ECDSA_DER, err)
    assert rv == 0x7 and ffi.string(err.function) == b"sitoken_sign_batch"  # CKR_ARGUMENTS_BAD
