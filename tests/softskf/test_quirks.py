"""Vendor-quirk switches of softskf, plug events, and hostile input at the C boundary."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from skf_client import (
    QUIRK_LIBRARY,
    SAR,
    SGD_SM2_1,
    SGD_SM2_1_OLD,
    Session,
    check,
    connect,
    dev_auth,
    ffi,
    load,
    read_list,
    util,
)

from conftest import USER_PIN


def test_quirk_library_exports_only_the_misspelled_container_type(store: Path, device: str) -> None:
    lib = load(QUIRK_LIBRARY)
    with pytest.raises(AttributeError):
        lib.SKF_GetContainerType  # noqa: B018 - the lookup itself is the test
    with pytest.raises(AttributeError):
        lib.SKF_ECCDecrypt  # noqa: B018
    dev = connect(lib, device)
    check("SKF_DevAuth", dev_auth(lib, dev))
    app, cont = ffi.new("HANDLE *"), ffi.new("HANDLE *")
    check("SKF_CreateApplication", lib.SKF_CreateApplication(dev, b"app", b"admin8642", 3, USER_PIN.encode(),
                                                             3, 0xFF, app))
    check("SKF_CreateContainer", lib.SKF_CreateContainer(app[0], b"c", cont))
    ctype = ffi.new("ULONG *", 99)
    check("SKF_GetContianerType", lib.SKF_GetContianerType(cont[0], ctype))
    assert ctype[0] == 0
    lib.SKF_DisConnectDev(dev)


def test_the_standard_library_has_no_misspelled_export(lib: Any) -> None:
    with pytest.raises(AttributeError):
        lib.SKF_GetContianerType  # noqa: B018


def test_old_sgd_sm2_numbering(logged_in: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOFTSKF_QUIRKS", "sm2-old-ids")
    cont = logged_in.container("c")
    blob = ffi.new("ECCPUBLICKEYBLOB *")
    assert logged_in.lib.SKF_GenECCKeyPair(cont, SGD_SM2_1, blob) == SAR["NOTSUPPORTYETERR"]
    assert logged_in.lib.SKF_GenECCKeyPair(cont, SGD_SM2_1_OLD, blob) == SAR["OK"]
    info = ffi.new("DEVINFO *")
    check("SKF_GetDevInfo", logged_in.lib.SKF_GetDevInfo(logged_in.dev, info))
    assert info.AlgAsymCap == 0x00010000 | 0x00020100 | 0x00020400


def test_quirks_from_the_config_file(session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert read_list(session.lib, "SKF_EnumContainer", session.app) == b"\0\0"
    conf = tmp_path / "softskf.conf"
    conf.write_text("# test\nquirks = empty-list-1\n")
    monkeypatch.setenv("SOFTSKF_CONF", str(conf))
    assert read_list(session.lib, "SKF_EnumContainer", session.app) == b"\0"


def test_store_directory_from_the_config_file(lib: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "from-conf"
    assert util(other, "create-device", "confdev").returncode == 0
    conf = tmp_path / "softskf.conf"
    conf.write_text(f"dir = {other}\n")
    monkeypatch.delenv("SOFTSKF_DIR", raising=False)
    monkeypatch.setenv("SOFTSKF_CONF", str(conf))
    assert read_list(lib, "SKF_EnumDev", 1) == b"confdev\0\0"


def _wait_in_thread(lib: Any) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def wait() -> None:
        name, size, event = ffi.new("char[64]"), ffi.new("ULONG *", 64), ffi.new("ULONG *")
        result["rv"] = lib.SKF_WaitForDevEvent(name, size, event)
        result["name"], result["event"] = ffi.string(name), event[0]

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.2)
    return thread, result


def test_plug_events(lib: Any, device: str, store: Path) -> None:
    thread, result = _wait_in_thread(lib)
    assert util(store, "unplug", device).returncode == 0
    thread.join(10)
    assert result == {"rv": SAR["OK"], "name": device.encode(), "event": 2}
    thread, result = _wait_in_thread(lib)
    assert util(store, "plug", device).returncode == 0
    thread.join(10)
    assert result == {"rv": SAR["OK"], "name": device.encode(), "event": 1}
    thread, result = _wait_in_thread(lib)
    assert lib.SKF_CancelWaitForDevEvent() == SAR["OK"]
    thread.join(10)
    assert not thread.is_alive() and result["rv"] == 0x0A000022  # SAR_NOT_EVENTERR


def test_hostile_names_and_nulls(session: Session) -> None:
    lib, app = session.lib, session.app
    h = ffi.new("HANDLE *")
    size = ffi.new("ULONG *")
    assert lib.SKF_ConnectDev(b"../../etc", h) == SAR["DEVICE_REMOVED"]
    assert lib.SKF_ConnectDev(b"x" * 5000, h) == SAR["NAMELENERR"]
    assert lib.SKF_ConnectDev(ffi.NULL, h) == SAR["INVALIDPARAMERR"]
    assert lib.SKF_EnumDev(1, ffi.NULL, ffi.NULL) == SAR["INVALIDPARAMERR"]
    assert lib.SKF_EnumContainer(app, ffi.NULL, ffi.NULL) == SAR["INVALIDPARAMERR"]
    assert lib.SKF_OpenContainer(app, ffi.NULL, h) == SAR["INVALIDPARAMERR"]
    assert lib.SKF_VerifyPIN(app, 1, ffi.NULL, size) == SAR["INVALIDPARAMERR"]
    assert lib.SKF_GetPINInfo(app, 1, ffi.NULL, size, ffi.NULL) == SAR["INVALIDPARAMERR"]
    assert lib.SKF_GenRandom(session.dev, ffi.new("uint8_t[8]"), 0) == SAR["INVALIDPARAMERR"]
    assert lib.SKF_GenRandom(session.dev, ffi.new("uint8_t[8]"), 1 << 30) == SAR["INDATALENERR"]
    assert lib.SKF_DevAuth(session.dev, ffi.NULL, 16) == SAR["INVALIDPARAMERR"]
    # A container handle passed where an application handle belongs is refused, not misread.
    cont = session.container("c")
    assert lib.SKF_EnumContainer(cont, ffi.NULL, size) == SAR["INVALIDHANDLEERR"]
    assert lib.SKF_ExportPublicKey(app, 1, ffi.NULL, size) == SAR["INVALIDHANDLEERR"]
    # Closing the application closes its containers.
    check("SKF_CloseApplication", lib.SKF_CloseApplication(app))
    assert lib.SKF_ExportPublicKey(cont, 1, ffi.NULL, size) == SAR["INVALIDHANDLEERR"]
    dev = connect(lib, "dev1")
    assert lib.SKF_GenRandom(dev, ffi.new("uint8_t[8]"), 8) == SAR["OK"]
