"""softskf devices and applications as a spec client sees them: lists, size queries, DevAuth, codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skf_client import SAR, check, connect, dev_auth, ffi, read_list, sm4_ecb_encrypt, split_names, util

from conftest import ADMIN_PIN, USER_PIN


def _create(store: Path, *names: str) -> None:
    for name in names:
        done = util(store, "create-device", name)
        assert done.returncode == 0, done.stderr


def test_enum_dev_is_a_double_nul_list_with_a_size_query(lib: Any, store: Path) -> None:
    _create(store, "b-key", "a-key")
    raw = read_list(lib, "SKF_EnumDev", 1)
    assert raw == b"a-key\0b-key\0\0"
    size = ffi.new("ULONG *", 5)
    small = ffi.new("char[]", 5)
    assert lib.SKF_EnumDev(1, small, size) == SAR["BUFFER_TOO_SMALL"]
    assert size[0] == len(raw)


def test_an_empty_list_is_two_nuls(lib: Any, store: Path) -> None:
    assert read_list(lib, "SKF_EnumDev", 1) == b"\0\0"


def test_unplugged_device_is_listed_only_as_supported(lib: Any, store: Path) -> None:
    _create(store, "k1", "k2")
    assert util(store, "unplug", "k2").returncode == 0
    assert split_names(read_list(lib, "SKF_EnumDev", 1)) == ["k1"]
    assert split_names(read_list(lib, "SKF_EnumDev", 0)) == ["k1", "k2"]
    state = ffi.new("ULONG *")
    check("SKF_GetDevState", lib.SKF_GetDevState(b"k2", state))
    assert state[0] == 0
    h = ffi.new("HANDLE *")
    assert lib.SKF_ConnectDev(b"k2", h) == SAR["DEVICE_REMOVED"]
    assert util(store, "plug", "k2").returncode == 0
    check("SKF_GetDevState", lib.SKF_GetDevState(b"k2", state))
    assert state[0] == 1


def test_removing_a_connected_device_fails_its_calls(lib: Any, device: str, store: Path) -> None:
    dev = connect(lib, device)
    assert util(store, "unplug", device).returncode == 0
    info = ffi.new("DEVINFO *")
    assert lib.SKF_GetDevInfo(dev, info) == SAR["DEVICE_REMOVED"]
    lib.SKF_DisConnectDev(dev)


def test_dev_info_fields(lib: Any, device: str) -> None:
    assert ffi.sizeof("DEVINFO") == 294
    dev = connect(lib, device)
    check("SKF_SetLabel", lib.SKF_SetLabel(dev, b"Renamed"))
    info = ffi.new("DEVINFO *")
    check("SKF_GetDevInfo", lib.SKF_GetDevInfo(dev, info))
    assert ffi.string(info.Label) == b"Renamed"
    assert ffi.string(info.SerialNumber) == b"SN0001"
    assert info.DevAuthAlgId == 0x401
    assert info.AlgAsymCap & 0x00020200 and info.AlgHashCap & 1
    assert 0 < info.FreeSpace <= info.TotalSpace
    assert lib.SKF_SetLabel(dev, b"x" * 32) == SAR["NAMELENERR"]
    lib.SKF_DisConnectDev(dev)


def test_device_authentication(lib: Any, device: str) -> None:
    dev = connect(lib, device)
    app = ffi.new("HANDLE *")
    args = (b"app", ADMIN_PIN.encode(), 3, USER_PIN.encode(), 3, 0xFF, app)
    assert lib.SKF_CreateApplication(dev, *args) == SAR["USER_NOT_LOGGED_IN"]
    assert dev_auth(lib, dev, b"8765432187654321") == SAR["FAIL"]
    # No challenge: each random answers one attempt.
    assert lib.SKF_DevAuth(dev, sm4_ecb_encrypt(b"1234567812345678", bytes(16)), 16) == SAR["FAIL"]
    assert dev_auth(lib, dev) == SAR["OK"]
    check("SKF_CreateApplication", lib.SKF_CreateApplication(dev, *args))
    assert lib.SKF_CreateApplication(dev, *args) == SAR["APPLICATION_EXISTS"]
    new_key = b"abcdefghijklmnop"
    check("SKF_ChangeDevAuthKey", lib.SKF_ChangeDevAuthKey(dev, new_key, 16))
    lib.SKF_DisConnectDev(dev)
    dev = connect(lib, device)
    assert dev_auth(lib, dev) == SAR["FAIL"]
    assert dev_auth(lib, dev, new_key) == SAR["OK"]
    lib.SKF_DisConnectDev(dev)


def test_the_32_byte_devauth_form_is_accepted(lib: Any, device: str) -> None:
    dev = connect(lib, device)
    rnd = ffi.new("uint8_t[8]")
    check("SKF_GenRandom", lib.SKF_GenRandom(dev, rnd, 8))
    answer = sm4_ecb_encrypt(b"1234567812345678", bytes(rnd) + bytes(8) + bytes([16]) * 16)
    assert lib.SKF_DevAuth(dev, answer, 32) == SAR["OK"]
    assert lib.SKF_DevAuth(dev, answer, 24) == SAR["INDATALENERR"]
    lib.SKF_DisConnectDev(dev)


def test_applications_list_open_and_delete(lib: Any, device: str) -> None:
    dev = connect(lib, device)
    check("SKF_DevAuth", dev_auth(lib, dev))
    app = ffi.new("HANDLE *")
    for name in (b"first", b"second"):
        check("SKF_CreateApplication", lib.SKF_CreateApplication(
            dev, name, ADMIN_PIN.encode(), 3, USER_PIN.encode(), 3, 0xFF, app))
    assert read_list(lib, "SKF_EnumApplication", dev) == b"first\0second\0\0"
    assert lib.SKF_OpenApplication(dev, b"third", app) == SAR["APPLICATION_NOT_EXISTS"]
    check("SKF_OpenApplication", lib.SKF_OpenApplication(dev, b"first", app))
    check("SKF_DeleteApplication", lib.SKF_DeleteApplication(dev, b"first"))
    assert lib.SKF_DeleteApplication(dev, b"first") == SAR["APPLICATION_NOT_EXISTS"]
    # A handle to a deleted application answers, and says so.
    retry = ffi.new("ULONG *")
    assert lib.SKF_VerifyPIN(app[0], 1, USER_PIN.encode(), retry) == SAR["APPLICATION_NOT_EXISTS"]
    assert read_list(lib, "SKF_EnumApplication", dev) == b"second\0\0"
    assert lib.SKF_CreateApplication(dev, b"n" * 33, ADMIN_PIN.encode(), 3, USER_PIN.encode(), 3,
                                     0xFF, app) == SAR["APPLICATION_NAME_INVALID"]
    assert lib.SKF_CreateApplication(dev, b"short", b"12345", 3, USER_PIN.encode(), 3,
                                     0xFF, app) == SAR["PIN_LEN_RANGE"]
    assert lib.SKF_CreateApplication(dev, b"zero", ADMIN_PIN.encode(), 0, USER_PIN.encode(), 3,
                                     0xFF, app) == SAR["INVALIDPARAMERR"]
    lib.SKF_DisConnectDev(dev)


def test_stale_and_forged_handles_are_refused(lib: Any, device: str) -> None:
    dev = connect(lib, device)
    lib.SKF_DisConnectDev(dev)
    info = ffi.new("DEVINFO *")
    assert lib.SKF_GetDevInfo(dev, info) == SAR["INVALIDHANDLEERR"]
    forged = ffi.cast("HANDLE", 0x1234)
    assert lib.SKF_GetDevInfo(forged, info) == SAR["INVALIDHANDLEERR"]
    assert lib.SKF_CloseApplication(forged) == SAR["INVALIDHANDLEERR"]
    assert lib.SKF_DisConnectDev(ffi.NULL) == SAR["INVALIDHANDLEERR"]
