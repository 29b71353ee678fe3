"""SM2 encryption on softskf against the openssl CLI, and the KMC's enveloped encryption key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from skf_client import (
    SAR,
    SGD_SM4_ECB,
    Session,
    blob_parts,
    check,
    cipher_blob,
    cipher_from_der,
    cipher_to_der,
    ffi,
    imported_session_key_encrypts_as,
    openssl,
    openssl_sm2_key,
    public_blob,
    sm4_ecb_encrypt,
    spki_pem,
)


def _openssl_encrypt(tmp: Path, pub_pem: Path, data: bytes) -> bytes:
    (tmp / "plain").write_bytes(data)
    done = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", str(pub_pem), "-in", str(tmp / "plain"))
    assert done.returncode == 0, done.stderr
    return done.stdout


def _openssl_decrypt(tmp: Path, key_pem: Path, ct_der: bytes) -> bytes:
    (tmp / "ct.der").write_bytes(ct_der)
    done = openssl("pkeyutl", "-decrypt", "-inkey", str(key_pem), "-in", str(tmp / "ct.der"))
    assert done.returncode == 0 and b"error" not in done.stderr, done.stderr
    return done.stdout


def test_ext_ecc_encrypt_is_decrypted_by_openssl(session: Session, tmp_path: Path) -> None:
    key = openssl_sm2_key(tmp_path, "k")
    plain = os.urandom(48)
    _raw, blob = cipher_blob(bytes(32), bytes(32), bytes(32), bytes(len(plain)))
    check("SKF_ExtECCEncrypt", session.lib.SKF_ExtECCEncrypt(session.dev, public_blob(key.pub), plain,
                                                             len(plain), blob))
    assert blob.CipherLen == len(plain)
    assert _openssl_decrypt(tmp_path, key.pem, cipher_to_der(*blob_parts(blob))) == plain


def test_openssl_ciphertext_is_decrypted_by_ext_ecc_decrypt(session: Session, tmp_path: Path) -> None:
    key = openssl_sm2_key(tmp_path, "k")
    plain = b"sixteen byte key"
    _raw, blob = cipher_blob(*cipher_from_der(_openssl_encrypt(tmp_path, key.pub_pem, plain)))
    priv = ffi.new("ECCPRIVATEKEYBLOB *")
    priv.BitLen = 256
    priv.PrivateKey[32:64] = key.d
    size = ffi.new("ULONG *")
    check("SKF_ExtECCDecrypt", session.lib.SKF_ExtECCDecrypt(session.dev, priv, blob, ffi.NULL, size))
    assert size[0] == 16
    out = ffi.new("uint8_t[]", 16)
    check("SKF_ExtECCDecrypt", session.lib.SKF_ExtECCDecrypt(session.dev, priv, blob, out, size))
    assert bytes(out) == plain
    blob.HASH[0] ^= 1  # C3 no longer matches
    assert session.lib.SKF_ExtECCDecrypt(session.dev, priv, blob, out, size) != SAR["OK"]


def _envelope(tmp: Path, sign_pub: bytes, enc_key: Any, k: bytes, *, at_offset_32: bool = False) -> Any:
    """The KMC's side (SKF.md section 7): SM4-ECB_K(0^32 || d_e), and K SM2-encrypted to P_s."""
    sign_pem = tmp / "sign.pub.pem"
    sign_pem.write_bytes(spki_pem(sign_pub))
    x, y, c3, c2 = cipher_from_der(_openssl_encrypt(tmp, sign_pem, k))
    raw = ffi.new("uint8_t[]", ffi.sizeof("ENVELOPEDKEYBLOB") + 16)
    env = ffi.cast("ENVELOPEDKEYBLOB *", raw)
    env.Version, env.ulSymmAlgID, env.ulBits = 1, SGD_SM4_ECB, 256
    if at_offset_32:  # a 32-byte E(d) placed in the tail, garbage in front: tokens read the tail
        env.cbEncryptedPriKey[0:64] = os.urandom(32) + sm4_ecb_encrypt(k, enc_key.d)
    else:
        env.cbEncryptedPriKey[0:64] = sm4_ecb_encrypt(k, bytes(32) + enc_key.d)
    env.PubKey = public_blob(enc_key.pub)[0]
    blob = env.ECCCipherBlob
    blob.X[32:64], blob.Y[32:64], blob.HASH[0:32] = x, y, c3
    blob.CipherLen = len(c2)
    ffi.memmove(ffi.addressof(blob.Cipher), c2, len(c2))
    return raw, env


@pytest.mark.parametrize("at_offset_32", [False, True])
def test_enveloped_encryption_key_import(logged_in: Session, tmp_path: Path, at_offset_32: bool) -> None:
    lib = logged_in.lib
    cont = logged_in.container("dual")
    sign_pub = logged_in.gen_sm2(cont)
    enc_key = openssl_sm2_key(tmp_path, "enc")
    _raw, env = _envelope(tmp_path, sign_pub, enc_key, os.urandom(16), at_offset_32=at_offset_32)
    check("SKF_ImportECCKeyPair", lib.SKF_ImportECCKeyPair(cont, env))
    exported = logged_in.export_public(cont, sign=False)
    assert exported[36:68] + exported[100:132] == enc_key.pub
    # What a CA encrypts to the encryption certificate's key, the container now decrypts.
    plain = b"session key 0123"
    ct_raw, blob = cipher_blob(*cipher_from_der(_openssl_encrypt(tmp_path, enc_key.pub_pem, plain)))
    out, size = ffi.new("uint8_t[]", 16), ffi.new("ULONG *", 16)
    check("SKF_ECCDecrypt", lib.SKF_ECCDecrypt(cont, blob, out, size))
    assert bytes(out) == plain
    # And unwrapped as a session key, it encrypts like SM4 itself.
    assert imported_session_key_encrypts_as(lib, cont, ct_raw, len(ct_raw), plain)


def test_envelope_checks(logged_in: Session, tmp_path: Path) -> None:
    lib = logged_in.lib
    cont = logged_in.container("dual")
    enc_key = openssl_sm2_key(tmp_path, "enc")
    _raw, env = _envelope(tmp_path, enc_key.pub, enc_key, os.urandom(16))
    assert lib.SKF_ImportECCKeyPair(cont, env) == SAR["KEYNOTFOUNTERR"]  # no signing key yet
    sign_pub = logged_in.gen_sm2(cont)
    _raw, env = _envelope(tmp_path, sign_pub, enc_key, os.urandom(16))
    env.Version = 2
    assert lib.SKF_ImportECCKeyPair(cont, env) == SAR["INVALIDPARAMERR"]
    env.Version, env.ulSymmAlgID = 1, 0x101
    assert lib.SKF_ImportECCKeyPair(cont, env) == SAR["NOTSUPPORTYETERR"]
    env.ulSymmAlgID, env.ECCCipherBlob.CipherLen = SGD_SM4_ECB, 15
    assert lib.SKF_ImportECCKeyPair(cont, env) == SAR["INDATALENERR"]
    env.ECCCipherBlob.CipherLen = 16
    other = openssl_sm2_key(tmp_path, "other")
    env.PubKey = public_blob(other.pub)[0]  # not the public key of d_e
    assert lib.SKF_ImportECCKeyPair(cont, env) == SAR["INDATAERR"]
    env.PubKey = public_blob(enc_key.pub)[0]
    lib.SKF_ClearSecureState(logged_in.app)
    assert lib.SKF_ImportECCKeyPair(cont, env) == SAR["USER_NOT_LOGGED_IN"]
    assert logged_in.verify("user13579")[0] == SAR["OK"]
    check("SKF_ImportECCKeyPair", lib.SKF_ImportECCKeyPair(cont, env))


def test_hostile_cipher_blobs(logged_in: Session) -> None:
    lib = logged_in.lib
    raw, blob = cipher_blob(bytes(32), bytes(32), bytes(32), bytes(16))
    priv = ffi.new("ECCPRIVATEKEYBLOB *")
    priv.BitLen = 256
    priv.PrivateKey[63] = 7
    out, size = ffi.new("uint8_t[]", 16), ffi.new("ULONG *", 16)
    for length in (0, 0xFFFFFFFF, 100000):
        blob.CipherLen = length
        assert lib.SKF_ExtECCDecrypt(logged_in.dev, priv, blob, out, size) == SAR["INDATALENERR"]
    blob.CipherLen = 16
    blob.X[0] = 1  # not right-aligned
    assert lib.SKF_ExtECCDecrypt(logged_in.dev, priv, blob, out, size) == SAR["INVALIDPARAMERR"]
    blob.X[0] = 0
    assert lib.SKF_ExtECCDecrypt(logged_in.dev, priv, blob, out, size) != SAR["OK"]  # C1 not on the curve
    priv.PrivateKey[0] = 1
    assert lib.SKF_ExtECCDecrypt(logged_in.dev, priv, blob, out, size) == SAR["INVALIDPARAMERR"]
    bad_pub = public_blob(b"\x01" * 64)
    assert lib.SKF_ExtECCEncrypt(logged_in.dev, bad_pub, b"x", 1, blob) == SAR["INVALIDPARAMERR"]
    cont = logged_in.container("c")
    logged_in.gen_sm2(cont)
    key = ffi.new("HANDLE *")
    assert lib.SKF_ImportSessionKey(cont, SGD_SM4_ECB, raw, 100, key) == SAR["INDATALENERR"]
