"""softskf's other services: RSA-2048, file objects, SM3 digests with Z, SM4 session keys."""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from skf_client import (
    SAR,
    SGD_SM3,
    SGD_SM4_ECB,
    Session,
    blob_parts,
    check,
    cipher_blob,
    cipher_to_der,
    ffi,
    imported_session_key_encrypts_as,
    key_handle_encrypts_as,
    openssl,
    openssl_sm2_key,
    read_list,
    signature_der,
    sm2_e,
    sm4_ecb_encrypt,
)

SHA256_DIGESTINFO = bytes.fromhex("3031300d060960864801650304020105000420")


def _rsa_public(blob: bytes) -> rsa.RSAPublicKey:
    alg, bits = struct.unpack("<II", blob[:8])
    assert alg == 0x00010000 and bits == 2048 and len(blob) == 268
    n, e = int.from_bytes(blob[8:264], "big"), int.from_bytes(blob[264:268], "big")
    return rsa.RSAPublicNumbers(e, n).public_key()


def _rsa_container(session: Session) -> tuple[Any, rsa.RSAPublicKey]:
    cont = session.container("rsa")
    blob = ffi.new("RSAPUBLICKEYBLOB *")
    check("SKF_GenRSAKeyPair", session.lib.SKF_GenRSAKeyPair(cont, 2048, blob))
    public = _rsa_public(bytes(ffi.buffer(blob)))
    assert _rsa_public(session.export_public(cont)).public_numbers() == public.public_numbers()
    return cont, public


def test_rsa_2048_signatures_verify_on_the_host(logged_in: Session) -> None:
    lib = logged_in.lib
    cont, public = _rsa_container(logged_in)
    message = b"an RSA-signed record"
    data = SHA256_DIGESTINFO + hashlib.sha256(message).digest()
    size = ffi.new("ULONG *")
    check("SKF_RSASignData", lib.SKF_RSASignData(cont, data, len(data), ffi.NULL, size))
    assert size[0] == 256
    sig = ffi.new("uint8_t[]", 256)
    check("SKF_RSASignData", lib.SKF_RSASignData(cont, data, len(data), sig, size))
    public.verify(bytes(sig), message, padding.PKCS1v15(), hashes.SHA256())
    pub_blob = ffi.new("RSAPUBLICKEYBLOB *")
    ffi.memmove(pub_blob, logged_in.export_public(cont), 268)
    assert lib.SKF_RSAVerify(logged_in.dev, pub_blob, data, len(data), sig, 256) == SAR["OK"]
    bad = bytes([data[0] ^ 1]) + data[1:]
    assert lib.SKF_RSAVerify(logged_in.dev, pub_blob, bad, len(bad), sig, 256) != SAR["OK"]
    assert lib.SKF_RSASignData(cont, b"x" * 246, 246, sig, size) == SAR["INDATALENERR"]
    assert lib.SKF_GenRSAKeyPair(cont, 1024, pub_blob) == SAR["MODULUSLENERR"]
    assert lib.SKF_GenECCKeyPair(cont, 0x00020200, ffi.new("ECCPUBLICKEYBLOB *")) == SAR["KEYUSAGEERR"]
    ctype = ffi.new("ULONG *")
    check("SKF_GetContainerType", lib.SKF_GetContainerType(cont, ctype))
    assert ctype[0] == 1


def _private_blob(key: rsa.RSAPrivateKey) -> bytes:
    p = key.private_numbers()
    parts = [(p.public_numbers.n, 256), (p.public_numbers.e, 4), (p.d, 256), (p.p, 128), (p.q, 128),
             (p.dmp1, 128), (p.dmq1, 128), (p.iqmp, 128)]
    return struct.pack("<II", 0x00010000, 2048) + b"".join(v.to_bytes(n, "big") for v, n in parts)


def test_rsa_encryption_pair_import(logged_in: Session) -> None:
    lib = logged_in.lib
    cont, sign_public = _rsa_container(logged_in)
    enc_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    k = os.urandom(16)
    blob = _private_blob(enc_key)
    assert len(blob) == 1164
    encrypted = sm4_ecb_encrypt(k, blob + bytes([4]) * 4)  # PKCS#5 padding to 1168
    wrapped = sign_public.encrypt(k, padding.PKCS1v15())
    check("SKF_ImportRSAKeyPair", lib.SKF_ImportRSAKeyPair(cont, SGD_SM4_ECB, wrapped, len(wrapped),
                                                           encrypted, len(encrypted)))
    exported = _rsa_public(logged_in.export_public(cont, sign=False))
    assert exported.public_numbers() == enc_key.public_key().public_numbers()
    # A session key wrapped to the encryption key comes out of the token as that key.
    session_key = os.urandom(16)
    wrapped = enc_key.public_key().encrypt(session_key, padding.PKCS1v15())
    assert imported_session_key_encrypts_as(lib, cont, wrapped, len(wrapped), session_key)
    # A blob whose primes do not belong to its modulus is refused.
    broken = bytearray(blob)
    broken[600] ^= 1
    bad = sm4_ecb_encrypt(k, bytes(broken) + bytes([4]) * 4)
    wrapped = sign_public.encrypt(k, padding.PKCS1v15())
    assert lib.SKF_ImportRSAKeyPair(cont, SGD_SM4_ECB, wrapped, len(wrapped), bad, len(bad)) == SAR["INDATAERR"]


def test_file_objects(session: Session) -> None:
    lib, app = session.lib, session.app
    check("SKF_CreateFile", lib.SKF_CreateFile(app, b"public", 100, 0xFF, 0xFF))
    check("SKF_CreateFile", lib.SKF_CreateFile(app, b"secret", 20, 0x10, 0x10))
    assert lib.SKF_CreateFile(app, b"public", 10, 0xFF, 0xFF) == SAR["FILE_ALREADY_EXIST"]
    assert lib.SKF_CreateFile(app, b"f" * 33, 10, 0xFF, 0xFF) == SAR["NAMELENERR"]
    assert lib.SKF_CreateFile(app, b"huge", 0x7FFFFFFF, 0xFF, 0xFF) == SAR["NO_ROOM"]
    assert read_list(lib, "SKF_EnumFiles", app) == b"public\0secret\0\0"
    info = ffi.new("FILEATTRIBUTE *")
    check("SKF_GetFileInfo", lib.SKF_GetFileInfo(app, b"secret", info))
    assert (ffi.string(info.FileName), info.FileSize, info.ReadRights, info.WriteRights) == (b"secret", 20, 0x10, 0x10)
    check("SKF_WriteFile", lib.SKF_WriteFile(app, b"public", 90, b"0123456789", 10))
    assert lib.SKF_WriteFile(app, b"public", 91, b"0123456789", 10) == SAR["INDATALENERR"]
    assert lib.SKF_WriteFile(app, b"public", 0xFFFFFFFF, b"01", 2) == SAR["INDATALENERR"]
    size = ffi.new("ULONG *")
    check("SKF_ReadFile", lib.SKF_ReadFile(app, b"public", 85, 1000, ffi.NULL, size))
    assert size[0] == 15
    out = ffi.new("uint8_t[]", 15)
    check("SKF_ReadFile", lib.SKF_ReadFile(app, b"public", 85, 1000, out, size))
    assert bytes(out) == bytes(5) + b"0123456789"
    size[0] = 4
    assert lib.SKF_ReadFile(app, b"public", 85, 1000, out, size) == SAR["BUFFER_TOO_SMALL"]
    assert size[0] == 15
    assert lib.SKF_ReadFile(app, b"public", 101, 1, out, size) == SAR["INDATALENERR"]
    assert lib.SKF_ReadFile(app, b"secret", 0, 20, out, size) == SAR["USER_NOT_LOGGED_IN"]
    assert lib.SKF_WriteFile(app, b"secret", 0, b"x", 1) == SAR["USER_NOT_LOGGED_IN"]
    assert session.verify("user13579")[0] == SAR["OK"]
    check("SKF_WriteFile", lib.SKF_WriteFile(app, b"secret", 0, b"x", 1))
    check("SKF_DeleteFile", lib.SKF_DeleteFile(app, b"secret"))
    assert lib.SKF_GetFileInfo(app, b"secret", info) == SAR["FILE_NOT_EXIST"]
    assert read_list(lib, "SKF_EnumFiles", app) == b"public\0\0"


def _digest(session: Session, data: bytes, pub: Any = ffi.NULL, ident: bytes = b"") -> bytes:
    h = ffi.new("HANDLE *")
    id_arg = ident if ident else ffi.NULL
    check("SKF_DigestInit", session.lib.SKF_DigestInit(session.dev, SGD_SM3, pub, id_arg, len(ident), h))
    out, n = ffi.new("uint8_t[]", 32), ffi.new("ULONG *", 32)
    check("SKF_Digest", session.lib.SKF_Digest(h[0], data, len(data), out, n))
    check("SKF_CloseHandle", session.lib.SKF_CloseHandle(h[0]))
    return bytes(out)


def test_sm3_digest_and_z(logged_in: Session) -> None:
    assert _digest(logged_in, b"abc").hex().startswith("66c7f0f4")
    cont = logged_in.container("c")
    blob = ffi.new("ECCPUBLICKEYBLOB *")
    check("SKF_GenECCKeyPair", logged_in.lib.SKF_GenECCKeyPair(cont, 0x00020200, blob))
    pub = bytes(blob.X)[32:] + bytes(blob.Y)[32:]
    assert _digest(logged_in, b"message", blob, b"1234567812345678") == sm2_e(pub, b"message")
    assert _digest(logged_in, b"message", blob, b"alice") == sm2_e(pub, b"message", b"alice")


def test_sm4_session_key_known_answer(session: Session) -> None:
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    h = ffi.new("HANDLE *")
    check("SKF_SetSymmKey", session.lib.SKF_SetSymmKey(session.dev, key, SGD_SM4_ECB, h))
    param = ffi.new("BLOCKCIPHERPARAM *")
    out, n = ffi.new("uint8_t[]", 48), ffi.new("ULONG *", 48)
    assert session.lib.SKF_Encrypt(h[0], key, 16, out, n) == SAR["NOTINITIALIZEERR"]
    check("SKF_EncryptInit", session.lib.SKF_EncryptInit(h[0], param[0]))
    check("SKF_Encrypt", session.lib.SKF_Encrypt(h[0], key, 16, out, n))
    assert bytes(ffi.buffer(out, n[0])).hex() == "681edf34d206965e86b3e94f536e4246"
    check("SKF_DecryptInit", session.lib.SKF_DecryptInit(h[0], param[0]))
    plain, m = ffi.new("uint8_t[]", 48), ffi.new("ULONG *", 48)
    check("SKF_Decrypt", session.lib.SKF_Decrypt(h[0], out, n[0], plain, m))
    assert bytes(ffi.buffer(plain, m[0])) == key
    check("SKF_CloseHandle", session.lib.SKF_CloseHandle(h[0]))
    assert session.lib.SKF_CloseHandle(h[0]) == SAR["INVALIDHANDLEERR"]


def _sm4_cbc_mac(key: bytes, iv: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
    return (enc.update(data) + enc.finalize())[-16:]


def test_sm4_cbc_mac(session: Session) -> None:
    lib = session.lib
    key, iv = os.urandom(16), os.urandom(16)
    h = ffi.new("HANDLE *")
    check("SKF_SetSymmKey", lib.SKF_SetSymmKey(session.dev, key, SGD_SM4_ECB, h))
    param = ffi.new("BLOCKCIPHERPARAM *")
    param.IV[0:16], param.IVLen = iv, 16
    mac, out, n = ffi.new("HANDLE *"), ffi.new("uint8_t[]", 16), ffi.new("ULONG *", 16)
    data = os.urandom(300)
    check("SKF_MacInit", lib.SKF_MacInit(h[0], param, mac))
    assert lib.SKF_MacUpdate(mac[0], data[:20], 20) == SAR["OK"]
    assert lib.SKF_MacFinal(mac[0], out, n) == SAR["INDATALENERR"]  # 20 bytes, no padding
    check("SKF_MacInit", lib.SKF_MacInit(h[0], param, mac))
    check("SKF_MacUpdate", lib.SKF_MacUpdate(mac[0], data[:77], 77))
    check("SKF_MacUpdate", lib.SKF_MacUpdate(mac[0], data[77:288], 211))
    check("SKF_MacFinal", lib.SKF_MacFinal(mac[0], out, n))
    assert bytes(out) == _sm4_cbc_mac(key, iv, data[:288])
    param.PaddingType = 1
    check("SKF_MacInit", lib.SKF_MacInit(h[0], param, mac))
    check("SKF_Mac", lib.SKF_Mac(mac[0], data, 300, out, n))
    pad = 16 - 300 % 16
    assert bytes(out) == _sm4_cbc_mac(key, iv, data + bytes([pad]) * pad)
    assert lib.SKF_CloseHandle(mac[0]) == SAR["OK"]


def test_session_keys_exported_to_a_public_key(logged_in: Session, tmp_path: Path) -> None:
    lib = logged_in.lib
    cont = logged_in.container("c")
    peer = openssl_sm2_key(tmp_path, "peer")
    _raw, blob = cipher_blob(bytes(32), bytes(32), bytes(32), bytes(16))
    pub = ffi.new("ECCPUBLICKEYBLOB *")
    pub.BitLen, pub.X[32:64], pub.Y[32:64] = 256, peer.pub[:32], peer.pub[32:]
    handle = ffi.new("HANDLE *")
    check("SKF_ECCExportSessionKey", lib.SKF_ECCExportSessionKey(cont, SGD_SM4_ECB, pub, blob, handle))
    (tmp_path / "ct.der").write_bytes(cipher_to_der(*blob_parts(blob)))
    done = openssl("pkeyutl", "-decrypt", "-inkey", str(peer.pem), "-in", str(tmp_path / "ct.der"))
    assert done.returncode == 0 and len(done.stdout) == 16
    assert key_handle_encrypts_as(lib, handle[0], done.stdout)
    peer_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_blob = ffi.new("RSAPUBLICKEYBLOB *")
    numbers = peer_rsa.public_key().public_numbers()
    rsa_blob.AlgID, rsa_blob.BitLen = 0x00010000, 2048
    rsa_blob.Modulus[0:256], rsa_blob.PublicExponent[0:4] = numbers.n.to_bytes(256, "big"), numbers.e.to_bytes(4, "big")
    size = ffi.new("ULONG *")
    check("SKF_RSAExportSessionKey", lib.SKF_RSAExportSessionKey(cont, SGD_SM4_ECB, rsa_blob, ffi.NULL, size, handle))
    assert size[0] == 256
    wrapped = ffi.new("uint8_t[]", 256)
    check("SKF_RSAExportSessionKey", lib.SKF_RSAExportSessionKey(cont, SGD_SM4_ECB, rsa_blob, wrapped, size, handle))
    key = peer_rsa.decrypt(bytes(wrapped), padding.PKCS1v15())
    assert key_handle_encrypts_as(lib, handle[0], key)


def test_external_rsa_key_operations(session: Session) -> None:
    lib = session.lib
    blob = ffi.new("uint8_t[]", 1164)
    assert lib.SKF_GenExtRSAKey(session.dev, 1024, blob) == SAR["MODULUSLENERR"]
    check("SKF_GenExtRSAKey", lib.SKF_GenExtRSAKey(session.dev, 2048, blob))
    raw = bytes(blob)
    n, e = int.from_bytes(raw[8:264], "big"), int.from_bytes(raw[264:268], "big")
    d, p, q = (int.from_bytes(raw[a:b], "big") for a, b in ((268, 524), (524, 652), (652, 780)))
    assert p * q == n and e == 65537
    x = int.from_bytes(os.urandom(255), "big")
    size, out = ffi.new("ULONG *", 256), ffi.new("uint8_t[]", 256)
    check("SKF_ExtRSAPriKeyOperation", lib.SKF_ExtRSAPriKeyOperation(session.dev, blob, x.to_bytes(256, "big"),
                                                                     256, out, size))
    assert int.from_bytes(bytes(out), "big") == pow(x, d, n)
    pub = ffi.cast("RSAPUBLICKEYBLOB *", blob)
    check("SKF_ExtRSAPubKeyOperation", lib.SKF_ExtRSAPubKeyOperation(session.dev, pub, bytes(out), 256, out, size))
    assert int.from_bytes(bytes(out), "big") == x
    assert lib.SKF_ExtRSAPubKeyOperation(session.dev, pub, b"x" * 255, 255, out, size) == SAR["INDATALENERR"]


def test_external_sm2_sign_verified_by_openssl(session: Session, tmp_path: Path) -> None:
    key = openssl_sm2_key(tmp_path, "ext")
    priv = ffi.new("ECCPRIVATEKEYBLOB *")
    priv.BitLen, priv.PrivateKey[32:64] = 256, key.d
    sig = ffi.new("ECCSIGNATUREBLOB *")
    e = sm2_e(key.pub, b"external")
    check("SKF_ExtECCSign", session.lib.SKF_ExtECCSign(session.dev, priv, e, 32, sig))
    (tmp_path / "msg").write_bytes(b"external")
    (tmp_path / "sig").write_bytes(signature_der(sig))
    done = openssl("dgst", "-sm3", "-verify", str(key.pub_pem), "-sigopt", "distid:1234567812345678",
                   "-signature", str(tmp_path / "sig"), str(tmp_path / "msg"))
    assert done.stdout.strip() == b"Verified OK"
    pub = ffi.new("ECCPUBLICKEYBLOB *")
    pub.BitLen, pub.X[32:64], pub.Y[32:64] = 256, key.pub[:32], key.pub[32:]
    assert session.lib.SKF_ExtECCVerify(session.dev, pub, e, 32, sig) == SAR["OK"]
    sig.s[63] ^= 1
    assert session.lib.SKF_ExtECCVerify(session.dev, pub, e, 32, sig) != SAR["OK"]
