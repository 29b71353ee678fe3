"""Hostile SKF library answers: name lists, DEVINFO and blobs raise only MalformedBlob (an SkfError).

A vendor library (or a misbehaving one) controls every byte and every length it returns; the
contract (docs/skf.md) is that sitoken reads no byte past the buffer it allocated, never trusts a
reported size beyond it, and refuses what does not hold together with a message.
"""

from __future__ import annotations

import struct

from hostile_support import fuzz_settings, mutated, run_parser
from hypothesis import example, given
from hypothesis import strategies as st

from sitoken import sm2
from sitoken.skf import blobs
from sitoken.skf.blobs import MalformedBlob

ERRORS = (MalformedBlob,)
_G = bytes.fromhex(
    "04" "32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7"
    "bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0"
)
_CIPHER = blobs.build_ecc_cipher_blob(sm2.Sm2Ciphertext(_G[1:33], _G[33:], b"\x11" * 32, b"\x22" * 16))
_SEEDS = {
    "skf.blobs.parse_ecc_public_blob": (blobs.parse_ecc_public_blob, blobs.build_ecc_public_blob(_G)),
    "skf.blobs.parse_ecc_signature_blob": (blobs.parse_ecc_signature_blob, bytes(31) + b"\1" + bytes(63) + b"\1"),
    "skf.blobs.parse_ecc_cipher_blob": (blobs.parse_ecc_cipher_blob, _CIPHER),
    "skf.blobs.parse_rsa_public_blob": (
        blobs.parse_rsa_public_blob,
        struct.pack("=II", 0x10000, 2048) + b"\xc1" * 256 + (65537).to_bytes(4, "big"),
    ),
    "skf.blobs.DevInfo.parse": (blobs.DevInfo.parse, bytes(2) + b"M" * 192 + bytes(100)),
}


@fuzz_settings(max_examples=300)
@given(st.binary(max_size=80), st.integers(-5, 1 << 20))
@example(b"dev1", 4)
@example(b"a\0b\0\0", 1 << 31)
@example(b"", 0)
@example(b"\0", -1)
def test_name_lists_with_any_reported_size(raw: bytes, size: int) -> None:
    names = run_parser("skf.blobs.parse_name_list", ERRORS, blobs.parse_name_list, raw, size)
    if names is not None:  # every name came from inside the buffer, and none is empty or has a NUL
        assert all(name and "\0" not in name and blobs.encode_name(name) in raw for name in names)


@fuzz_settings(max_examples=250)
@given(st.data())
def test_blobs_mutated(data: st.DataObject) -> None:
    for name, (parse, seed) in _SEEDS.items():
        blob = data.draw(mutated(seed) | st.binary(max_size=400))
        run_parser(name, ERRORS, parse, blob)


@fuzz_settings(max_examples=100)
@given(st.integers(0, 0xFFFFFFFF))
def test_cipher_length_past_the_buffer(length: int) -> None:
    blob = _CIPHER[:160] + struct.pack("=I", length) + _CIPHER[164:]
    parsed = run_parser("skf.blobs.parse_ecc_cipher_blob", ERRORS, blobs.parse_ecc_cipher_blob, blob)
    assert parsed is None or len(parsed.cipher) == length <= 16
