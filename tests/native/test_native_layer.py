"""The extension and the binding under it: version check, SITOKEN_NO_NATIVE, the declarations
checked against the module, one function list per module, and the batch call's failure contract."""

from __future__ import annotations

import ctypes
import itertools

import pytest
from helpers_native import require_native

from sitoken import __version__
from sitoken._native_loader import DISABLE_ENV, binding, native_status
from sitoken.pkcs11.binding import FunctionList
from sitoken.signing.batch import batch_key_for, function_list_for, size_t_array
from sitoken.token import KeyType

pytestmark = pytest.mark.native
CKM_RSA_PKCS, CKR_DATA_LEN_RANGE, CKR_GENERAL_ERROR = 0x1, 0x21, 0x5


@pytest.fixture()
def native():  # type: ignore[no-untyped-def]
    require_native()
    found = binding()
    assert found is not None
    return found


def test_extension_matches_package_version(monkeypatch):
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    require_native()
    status = native_status()
    assert status.version is not None and status.version.split("+")[0] == __version__ and status.active


def test_environment_variable_turns_native_off(monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, "1")
    status = native_status()
    assert not status.active and DISABLE_ENV in status.reason


@pytest.mark.softhsm
def test_declared_function_list_matches_the_exported_symbols(module, softhsm_path):
    # An independent reader: ctypes looks the 68 symbols up by name; each must sit in the slot
    # of cryptoki.h's CK_FUNCTION_LIST that bears its name (SoftHSM exports them all).
    functions = module.functions
    names = [name for name, _ in functions.ffi.typeof("CK_FUNCTION_LIST").fields][1:]
    assert len(names) == 68 and names[0] == "C_Initialize" and names[-1] == "C_WaitForSlotEvent"
    exported = ctypes.CDLL(softhsm_path)
    for name in names:
        listed = int(functions.ffi.cast("uintptr_t", getattr(functions.fl, name)))
        assert listed == ctypes.cast(getattr(exported, name), ctypes.c_void_p).value, name


@pytest.mark.softhsm
def test_one_function_list_per_module(module, softhsm_path):
    from sitoken.pkcs11 import Module

    assert FunctionList.load(softhsm_path) is module.functions
    assert Module.load(softhsm_path).functions is module.functions


@pytest.mark.softhsm
def test_batch_failure_reports_lowest_index_and_keeps_the_prefix(native, batch_token):
    # CKM_RSA_PKCS refuses inputs longer than the modulus minus 11 bytes: input 7 fails.
    ffi, lib = native
    key = batch_key_for(batch_token, KeyType.RSA2048.value)
    inputs = [b"%02d" % i * 10 for i in range(40)]
    inputs[7] = b"x" * 300
    data = b"".join(inputs)
    offsets = size_t_array(itertools.accumulate(map(len, inputs), initial=0))
    out = ffi.new("unsigned char[]", 40 * 256)
    lens = ffi.new("size_t[]", 40)
    err = ffi.new("sitoken_batch_error *")
    sessions = [batch_token.open_session() for _ in range(2)]
    handles = ffi.new("CK_SESSION_HANDLE[]", [s.handle for s in sessions])
    status = lib.sitoken_sign_batch(
        function_list_for(ffi, batch_token), handles, 2, key.handle, CKM_RSA_PKCS, ffi.NULL, 0,
        ffi.from_buffer("unsigned char[]", data), ffi.from_buffer("size_t[]", offsets), 40,
        out, 256, lens, 0, err,
    )
    for s in sessions:
        s.close()
    # The spec's code would be CKR_DATA_LEN_RANGE; SoftHSM 2.6.1 says CKR_GENERAL_ERROR.
    assert status == lib.SITOKEN_E_MODULE and err.rv in (CKR_DATA_LEN_RANGE, CKR_GENERAL_ERROR)
    assert err.index == 7 and ffi.string(err.function) == b"C_Sign"
    lengths = ffi.unpack(lens, 40)
    assert lengths[:7] == [256] * 7 and set(lengths[7:]) == {0}


@pytest.mark.softhsm
def test_reference_loop_and_bad_arguments(native, batch_token):
    ffi, lib = native
    key = batch_key_for(batch_token, KeyType.EC_P256.value)
    fl = function_list_for(ffi, batch_token)
    out = ffi.new("unsigned char[]", 64)
    out_len = ffi.new("size_t *")
    err = ffi.new("sitoken_batch_error *")
    digest = bytes(range(32))
    with batch_token.open_session() as session:
        status = lib.sitoken_bench_reference(fl, session.handle, key.handle, 0x1041, ffi.NULL, 0,
                                             digest, 32, 25, out, 64, out_len, err)
    assert status == lib.SITOKEN_OK and out_len[0] == 64
    status = lib.sitoken_sign_batch(fl, ffi.NULL, 1, key.handle, 0x1041, ffi.NULL, 0, digest,
                                    ffi.NULL, 1, out, 64, ffi.NULL, lib.SITOKEN_ECDSA_DER, err)
    assert status == lib.SITOKEN_E_ARGUMENTS and ffi.string(err.function) == b"sitoken_sign_batch"
