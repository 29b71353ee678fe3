"""Hostile bytes at softskf's doors: random envelopes, ciphertext blobs and damaged state files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skf_client import SAR, Session, ffi, split_names

from conftest import USER_PIN

FIXTURES_REUSED = settings(max_examples=60, deadline=None,
                           suppress_health_check=[HealthCheck.function_scoped_fixture])


@FIXTURES_REUSED
@given(body=st.binary(min_size=373 + 15, max_size=373 + 15), cipher_len=st.integers(0, 0xFFFFFFFF))
def test_random_envelopes_are_refused(logged_in: Session, body: bytes, cipher_len: int) -> None:
    cont = _signing_container(logged_in)
    raw = ffi.new("uint8_t[]", body + bytes(600))  # room for any CipherLen the token accepts
    env = ffi.cast("ENVELOPEDKEYBLOB *", raw)
    env.ECCCipherBlob.CipherLen = cipher_len
    assert logged_in.lib.SKF_ImportECCKeyPair(cont, env) != SAR["OK"]
    assert logged_in.export_public(cont)  # the container still answers


@FIXTURES_REUSED
@given(body=st.binary(min_size=165, max_size=165), cipher_len=st.integers(0, 600), zeros=st.booleans())
def test_random_cipher_blobs_are_refused(logged_in: Session, body: bytes, cipher_len: int, zeros: bool) -> None:
    raw = ffi.new("uint8_t[]", body + bytes(600))
    blob = ffi.cast("ECCCIPHERBLOB *", raw)
    blob.CipherLen = cipher_len
    if zeros:  # right-aligned coordinates get past the first check
        blob.X[0:32] = bytes(32)
        blob.Y[0:32] = bytes(32)
    priv = ffi.new("ECCPRIVATEKEYBLOB *")
    priv.BitLen = 256
    priv.PrivateKey[63] = 5
    out, size = ffi.new("uint8_t[]", 600), ffi.new("ULONG *", 600)
    assert logged_in.lib.SKF_ExtECCDecrypt(logged_in.dev, priv, blob, out, size) != SAR["OK"]


def _signing_container(session: Session) -> Any:
    names = split_names(_enum(session))
    if "sign" in names:
        return session.container("sign", create=False)
    cont = session.container("sign")
    session.gen_sm2(cont)
    return cont


def _enum(session: Session) -> bytes:
    size = ffi.new("ULONG *")
    session.lib.SKF_EnumContainer(session.app, ffi.NULL, size)
    buf = ffi.new("char[]", size[0])
    session.lib.SKF_EnumContainer(session.app, buf, size)
    return bytes(ffi.buffer(buf, size[0]))


@FIXTURES_REUSED
@given(data=st.data())
def test_a_damaged_state_file_never_crashes_the_token(logged_in: Session, store: Path, data: st.DataObject) -> None:
    state = store / "devices" / "dev1" / "state"
    if not hasattr(logged_in, "pristine"):
        _signing_container(logged_in)
        logged_in.pristine = state.read_bytes()
    text = bytearray(logged_in.pristine)
    for _ in range(data.draw(st.integers(1, 4))):
        text[data.draw(st.integers(0, len(text) - 1))] = data.draw(st.integers(0, 255))
    state.write_bytes(bytes(text[:data.draw(st.integers(0, len(text)))]))
    lib, app = logged_in.lib, logged_in.app
    info, retry = ffi.new("DEVINFO *"), ffi.new("ULONG *")
    for rv in (lib.SKF_GetDevInfo(logged_in.dev, info), lib.SKF_VerifyPIN(app, 1, USER_PIN.encode(), retry),
               lib.SKF_EnumContainer(app, ffi.NULL, retry)):
        assert rv in (SAR["OK"], SAR["FILEERR"], SAR["APPLICATION_NOT_EXISTS"], SAR["DEVICE_REMOVED"],
                      SAR["PIN_INCORRECT"], SAR["PIN_LOCKED"]), hex(rv)
    state.write_bytes(logged_in.pristine)
