"""An independent SKF client for the software token: its own cffi declarations, written from SKF.md.

Deliberately not sitoken's driver: these tests check that softskf behaves as the specification
says, so that a driver which passes against softskf has been tested against the spec's shape.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cffi

ROOT = Path(__file__).resolve().parents[2]
# SOFTSKF_BUILD points the suite at another build, for example one with sanitizers.
BUILD = Path(os.environ.get("SOFTSKF_BUILD") or ROOT / "softskf" / "build")
LIBRARY = BUILD / "libsoftskf.so"
QUIRK_LIBRARY = BUILD / "libsoftskf-quirks.so"
UTIL = BUILD / "softskf-util"

FACTORY_AUTH_KEY = b"1234567812345678"
DEFAULT_ID = b"1234567812345678"
SGD_SM2_1 = 0x00020200
SGD_SM2_1_OLD = 0x00020100
SGD_SM3 = 0x00000001
SGD_SM4_ECB = 0x00000401
ADMIN_TYPE, USER_TYPE = 0, 1

SAR = {
    "OK": 0x00000000, "FAIL": 0x0A000001, "NOTSUPPORTYETERR": 0x0A000003, "FILEERR": 0x0A000004,
    "INVALIDHANDLEERR": 0x0A000005, "INVALIDPARAMERR": 0x0A000006, "NAMELENERR": 0x0A000009,
    "KEYUSAGEERR": 0x0A00000A, "MODULUSLENERR": 0x0A00000B, "NOTINITIALIZEERR": 0x0A00000C,
    "TIMEOUTERR": 0x0A00000F, "INDATALENERR": 0x0A000010, "INDATAERR": 0x0A000011,
    "KEYNOTFOUNTERR": 0x0A00001B, "CERTNOTFOUNTERR": 0x0A00001C, "BUFFER_TOO_SMALL": 0x0A000020,
    "DEVICE_REMOVED": 0x0A000023, "PIN_INCORRECT": 0x0A000024, "PIN_LOCKED": 0x0A000025,
    "PIN_LEN_RANGE": 0x0A000027, "USER_TYPE_INVALID": 0x0A00002A,
    "APPLICATION_NAME_INVALID": 0x0A00002B, "APPLICATION_EXISTS": 0x0A00002C,
    "USER_NOT_LOGGED_IN": 0x0A00002D, "APPLICATION_NOT_EXISTS": 0x0A00002E,
    "FILE_ALREADY_EXIST": 0x0A00002F, "NO_ROOM": 0x0A000030, "FILE_NOT_EXIST": 0x0A000031,
    "REACH_MAX_CONTAINER_COUNT": 0x0A000032,
}

# Only what the tests call; ULONG and BOOL are 32-bit, structures packed (SKF.md section 3).
CDEF = """
typedef uint32_t ULONG; typedef int32_t BOOL; typedef void *HANDLE;
typedef struct { uint8_t major, minor; } VERSION;
typedef struct {
  VERSION Version; char Manufacturer[64]; char Issuer[64]; char Label[32]; char SerialNumber[32];
  VERSION HWVersion; VERSION FirmwareVersion; ULONG AlgSymCap; ULONG AlgAsymCap; ULONG AlgHashCap;
  ULONG DevAuthAlgId; ULONG TotalSpace; ULONG FreeSpace; ULONG MaxECCBufferSize; ULONG MaxBufferSize;
  uint8_t Reserved[64];
} DEVINFO;
typedef struct { ULONG BitLen; uint8_t X[64]; uint8_t Y[64]; } ECCPUBLICKEYBLOB;
typedef struct { ULONG BitLen; uint8_t PrivateKey[64]; } ECCPRIVATEKEYBLOB;
typedef struct { uint8_t X[64]; uint8_t Y[64]; uint8_t HASH[32]; ULONG CipherLen; uint8_t Cipher[1]; } ECCCIPHERBLOB;
typedef struct { uint8_t r[64]; uint8_t s[64]; } ECCSIGNATUREBLOB;
typedef struct { ULONG AlgID; ULONG BitLen; uint8_t Modulus[256]; uint8_t PublicExponent[4]; } RSAPUBLICKEYBLOB;
typedef struct { char FileName[32]; ULONG FileSize; ULONG ReadRights; ULONG WriteRights; } FILEATTRIBUTE;
typedef struct {
  ULONG Version; ULONG ulSymmAlgID; ULONG ulBits; uint8_t cbEncryptedPriKey[64];
  ECCPUBLICKEYBLOB PubKey; ECCCIPHERBLOB ECCCipherBlob;
} ENVELOPEDKEYBLOB;
typedef struct { uint8_t IV[32]; ULONG IVLen; ULONG PaddingType; ULONG FeedBitLen; } BLOCKCIPHERPARAM;

ULONG SKF_EnumDev(BOOL, char *, ULONG *);
ULONG SKF_ConnectDev(char *, HANDLE *);
ULONG SKF_DisConnectDev(HANDLE);
ULONG SKF_GetDevState(char *, ULONG *);
ULONG SKF_GetDevInfo(HANDLE, DEVINFO *);
ULONG SKF_SetLabel(HANDLE, char *);
ULONG SKF_LockDev(HANDLE, ULONG);
ULONG SKF_UnlockDev(HANDLE);
ULONG SKF_GenRandom(HANDLE, uint8_t *, ULONG);
ULONG SKF_DevAuth(HANDLE, uint8_t *, ULONG);
ULONG SKF_ChangeDevAuthKey(HANDLE, uint8_t *, ULONG);
ULONG SKF_ChangePIN(HANDLE, ULONG, char *, char *, ULONG *);
ULONG SKF_GetPINInfo(HANDLE, ULONG, ULONG *, ULONG *, BOOL *);
ULONG SKF_VerifyPIN(HANDLE, ULONG, char *, ULONG *);
ULONG SKF_UnblockPIN(HANDLE, char *, char *, ULONG *);
ULONG SKF_ClearSecureState(HANDLE);
ULONG SKF_CreateApplication(HANDLE, char *, char *, ULONG, char *, ULONG, ULONG, HANDLE *);
ULONG SKF_EnumApplication(HANDLE, char *, ULONG *);
ULONG SKF_DeleteApplication(HANDLE, char *);
ULONG SKF_OpenApplication(HANDLE, char *, HANDLE *);
ULONG SKF_CloseApplication(HANDLE);
ULONG SKF_CreateFile(HANDLE, char *, ULONG, ULONG, ULONG);
ULONG SKF_DeleteFile(HANDLE, char *);
ULONG SKF_EnumFiles(HANDLE, char *, ULONG *);
ULONG SKF_GetFileInfo(HANDLE, char *, FILEATTRIBUTE *);
ULONG SKF_ReadFile(HANDLE, char *, ULONG, ULONG, uint8_t *, ULONG *);
ULONG SKF_WriteFile(HANDLE, char *, ULONG, uint8_t *, ULONG);
ULONG SKF_CreateContainer(HANDLE, char *, HANDLE *);
ULONG SKF_DeleteContainer(HANDLE, char *);
ULONG SKF_OpenContainer(HANDLE, char *, HANDLE *);
ULONG SKF_CloseContainer(HANDLE);
ULONG SKF_EnumContainer(HANDLE, char *, ULONG *);
ULONG SKF_ImportCertificate(HANDLE, BOOL, uint8_t *, ULONG);
ULONG SKF_ExportCertificate(HANDLE, BOOL, uint8_t *, ULONG *);
ULONG SKF_GenECCKeyPair(HANDLE, ULONG, ECCPUBLICKEYBLOB *);
ULONG SKF_ImportECCKeyPair(HANDLE, ENVELOPEDKEYBLOB *);
ULONG SKF_ECCSignData(HANDLE, uint8_t *, ULONG, ECCSIGNATUREBLOB *);
ULONG SKF_ECCVerify(HANDLE, ECCPUBLICKEYBLOB *, uint8_t *, ULONG, ECCSIGNATUREBLOB *);
ULONG SKF_ExtECCEncrypt(HANDLE, ECCPUBLICKEYBLOB *, uint8_t *, ULONG, ECCCIPHERBLOB *);
ULONG SKF_ExtECCDecrypt(HANDLE, ECCPRIVATEKEYBLOB *, ECCCIPHERBLOB *, uint8_t *, ULONG *);
ULONG SKF_ExportPublicKey(HANDLE, BOOL, uint8_t *, ULONG *);
ULONG SKF_GenRSAKeyPair(HANDLE, ULONG, RSAPUBLICKEYBLOB *);
ULONG SKF_RSASignData(HANDLE, uint8_t *, ULONG, uint8_t *, ULONG *);
ULONG SKF_RSAVerify(HANDLE, RSAPUBLICKEYBLOB *, uint8_t *, ULONG, uint8_t *, ULONG);
ULONG SKF_GenExtRSAKey(HANDLE, ULONG, uint8_t *);
ULONG SKF_ExtRSAPubKeyOperation(HANDLE, RSAPUBLICKEYBLOB *, uint8_t *, ULONG, uint8_t *, ULONG *);
ULONG SKF_ExtRSAPriKeyOperation(HANDLE, uint8_t *, uint8_t *, ULONG, uint8_t *, ULONG *);
ULONG SKF_ExtECCSign(HANDLE, ECCPRIVATEKEYBLOB *, uint8_t *, ULONG, ECCSIGNATUREBLOB *);
ULONG SKF_ExtECCVerify(HANDLE, ECCPUBLICKEYBLOB *, uint8_t *, ULONG, ECCSIGNATUREBLOB *);
ULONG SKF_ImportRSAKeyPair(HANDLE, ULONG, uint8_t *, ULONG, uint8_t *, ULONG);
ULONG SKF_ImportSessionKey(HANDLE, ULONG, uint8_t *, ULONG, HANDLE *);
ULONG SKF_SetSymmKey(HANDLE, uint8_t *, ULONG, HANDLE *);
ULONG SKF_DecryptInit(HANDLE, BLOCKCIPHERPARAM);
ULONG SKF_Decrypt(HANDLE, uint8_t *, ULONG, uint8_t *, ULONG *);
ULONG SKF_DigestUpdate(HANDLE, uint8_t *, ULONG);
ULONG SKF_DigestFinal(HANDLE, uint8_t *, ULONG *);
ULONG SKF_WaitForDevEvent(char *, ULONG *, ULONG *);
ULONG SKF_CancelWaitForDevEvent(void);
ULONG SKF_EncryptInit(HANDLE, BLOCKCIPHERPARAM);
ULONG SKF_Encrypt(HANDLE, uint8_t *, ULONG, uint8_t *, ULONG *);
ULONG SKF_DigestInit(HANDLE, ULONG, ECCPUBLICKEYBLOB *, uint8_t *, ULONG, HANDLE *);
ULONG SKF_Digest(HANDLE, uint8_t *, ULONG, uint8_t *, ULONG *);
ULONG SKF_MacInit(HANDLE, BLOCKCIPHERPARAM *, HANDLE *);
ULONG SKF_Mac(HANDLE, uint8_t *, ULONG, uint8_t *, ULONG *);
ULONG SKF_MacUpdate(HANDLE, uint8_t *, ULONG);
ULONG SKF_MacFinal(HANDLE, uint8_t *, ULONG *);
ULONG SKF_ECCExportSessionKey(HANDLE, ULONG, ECCPUBLICKEYBLOB *, ECCCIPHERBLOB *, HANDLE *);
ULONG SKF_RSAExportSessionKey(HANDLE, ULONG, RSAPUBLICKEYBLOB *, uint8_t *, ULONG *, HANDLE *);
ULONG SKF_CloseHandle(HANDLE);
"""

# Symbols bound on demand: their absence is what the quirk library is about.
OPTIONAL_CDEF = """
ULONG SKF_GetContainerType(HANDLE, ULONG *);
ULONG SKF_GetContianerType(HANDLE, ULONG *);
ULONG SKF_ECCDecrypt(HANDLE, ECCCIPHERBLOB *, uint8_t *, ULONG *);
"""

ffi = cffi.FFI()
ffi.cdef(CDEF, packed=True)
ffi.cdef(OPTIONAL_CDEF)


class SkfError(Exception):
    """A SKF call answered something other than SAR_OK."""

    def __init__(self, function: str, code: int) -> None:
        names = {v: k for k, v in SAR.items()}
        super().__init__(f"{function}: 0x{code:08X} ({names.get(code, '?')})")
        self.function = function
        self.code = code


def load(path: Path = LIBRARY) -> Any:
    return ffi.dlopen(str(path))


def check(function: str, rv: int) -> None:
    if rv != SAR["OK"]:
        raise SkfError(function, rv)


def split_names(raw: bytes) -> list[str]:
    """A double-NUL list into names; the raw bytes must end with the extra NUL."""
    assert raw.endswith(b"\0"), raw
    body = raw[:-1] if raw.endswith(b"\0\0") else raw
    return [n.decode() for n in body.split(b"\0") if n]


def read_list(lib: Any, function: str, *args: Any) -> bytes:
    """The two-call size query: NULL for the length, then a buffer of exactly that length."""
    size = ffi.new("ULONG *")
    check(function, getattr(lib, function)(*args, ffi.NULL, size))
    buf = ffi.new("char[]", size[0])
    check(function, getattr(lib, function)(*args, buf, size))
    return bytes(ffi.buffer(buf, size[0]))


def util(store: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(UTIL), "--dir", str(store), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60, check=False)


def sm4_ecb_encrypt(key: bytes, data: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    return enc.update(data) + enc.finalize()


def sm3(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


# SM2 curve parameters a, b, xG, yG (GM/T 0003), for Z.
_CURVE = bytes.fromhex(
    "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC"
    "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93"
    "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
    "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0")


def sm2_e(pub: bytes, message: bytes, ident: bytes = DEFAULT_ID) -> bytes:
    """e = SM3(Z || M) with Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA)."""
    z = sm3(len(ident * 8).to_bytes(2, "big") + ident + _CURVE + pub)
    return sm3(z + message)


def pub_of(blob: Any) -> bytes:
    """X || Y from an ECCPUBLICKEYBLOB, checking the 32 leading zero bytes of each field."""
    x, y = bytes(blob.X), bytes(blob.Y)
    assert blob.BitLen == 256 and x[:32] == bytes(32) and y[:32] == bytes(32)
    return x[32:] + y[32:]


def spki_pem(pub: bytes) -> bytes:
    """A SubjectPublicKeyInfo (id-ecPublicKey, curve SM2) around X || Y, as PEM."""
    import base64

    der = bytes.fromhex("3059301306072A8648CE3D020106082A811CCF5501822D034200") + b"\x04" + pub
    body = base64.encodebytes(der).decode().replace("\n", "")
    return f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n".encode()


def _der_int(v: bytes) -> bytes:
    v = v.lstrip(b"\0") or b"\0"
    if v[0] & 0x80:
        v = b"\0" + v
    return b"\x02" + bytes([len(v)]) + v


def signature_der(sig: Any) -> bytes:
    """ECCSIGNATUREBLOB to DER SEQUENCE { r, s }."""
    r, s = bytes(sig.r), bytes(sig.s)
    assert r[:32] == bytes(32) and s[:32] == bytes(32)
    body = _der_int(r[32:]) + _der_int(s[32:])
    return b"\x30" + bytes([len(body)]) + body


def openssl(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=60, check=False)


@dataclass
class Session:
    """A connected device with an open application, as most tests want it."""

    lib: Any
    dev: Any
    app: Any

    def call(self, function: str, *args: Any) -> int:
        return int(getattr(self.lib, function)(*args))

    def verify(self, pin: str, kind: int = USER_TYPE) -> tuple[int, int]:
        retry = ffi.new("ULONG *", 0xEEEE)
        rv = self.lib.SKF_VerifyPIN(self.app, kind, pin.encode(), retry)
        return rv, retry[0]

    def pin_info(self, kind: int = USER_TYPE) -> tuple[int, int, bool]:
        mx, rem, dflt = ffi.new("ULONG *"), ffi.new("ULONG *"), ffi.new("BOOL *")
        check("SKF_GetPINInfo", self.lib.SKF_GetPINInfo(self.app, kind, mx, rem, dflt))
        return mx[0], rem[0], bool(dflt[0])

    def container(self, name: str, create: bool = True) -> Any:
        h = ffi.new("HANDLE *")
        fn = "SKF_CreateContainer" if create else "SKF_OpenContainer"
        check(fn, getattr(self.lib, fn)(self.app, name.encode(), h))
        return h[0]

    def gen_sm2(self, cont: Any) -> bytes:
        blob = ffi.new("ECCPUBLICKEYBLOB *")
        check("SKF_GenECCKeyPair", self.lib.SKF_GenECCKeyPair(cont, SGD_SM2_1, blob))
        return pub_of(blob)

    def sign(self, cont: Any, e: bytes) -> Any:
        sig = ffi.new("ECCSIGNATUREBLOB *")
        check("SKF_ECCSignData", self.lib.SKF_ECCSignData(cont, e, len(e), sig))
        return sig

    def export_public(self, cont: Any, sign: bool = True) -> bytes:
        size = ffi.new("ULONG *")
        check("SKF_ExportPublicKey", self.lib.SKF_ExportPublicKey(cont, sign, ffi.NULL, size))
        buf = ffi.new("uint8_t[]", size[0])
        check("SKF_ExportPublicKey", self.lib.SKF_ExportPublicKey(cont, sign, buf, size))
        return bytes(ffi.buffer(buf, size[0]))


def imported_session_key_encrypts_as(lib: Any, cont: Any, wrapped: Any, size: int, key: bytes) -> bool:
    """ImportSessionKey (SM4-ECB), then whether it encrypts exactly as `key` does."""
    handle = ffi.new("HANDLE *")
    check("SKF_ImportSessionKey", lib.SKF_ImportSessionKey(cont, SGD_SM4_ECB, wrapped, size, handle))
    return key_handle_encrypts_as(lib, handle[0], key)


def key_handle_encrypts_as(lib: Any, handle: Any, key: bytes) -> bool:
    """Whether an SM4-ECB key handle encrypts two blocks as `key` does; closes the handle."""
    param = ffi.new("BLOCKCIPHERPARAM *")
    check("SKF_EncryptInit", lib.SKF_EncryptInit(handle, param[0]))
    out, n = ffi.new("uint8_t[]", 64), ffi.new("ULONG *", 64)
    check("SKF_Encrypt", lib.SKF_Encrypt(handle, b"A" * 32, 32, out, n))
    check("SKF_CloseHandle", lib.SKF_CloseHandle(handle))
    return bytes(ffi.buffer(out, n[0])) == sm4_ecb_encrypt(key, b"A" * 32)


def dev_auth(lib: Any, dev: Any, key: bytes = FACTORY_AUTH_KEY) -> int:
    """GenRandom(8), pad with zeros to 16, SM4-ECB under the device key, DevAuth (SKF.md 1.1)."""
    rnd = ffi.new("uint8_t[8]")
    check("SKF_GenRandom", lib.SKF_GenRandom(dev, rnd, 8))
    answer = sm4_ecb_encrypt(key, bytes(rnd) + bytes(8))
    return int(lib.SKF_DevAuth(dev, answer, len(answer)))


def connect(lib: Any, name: str) -> Any:
    h = ffi.new("HANDLE *")
    check("SKF_ConnectDev", lib.SKF_ConnectDev(name.encode(), h))
    return h[0]


# ---- DER, just enough for SM2 keys and GM/T 0009 ciphertexts from the openssl CLI ----

def der_items(der: bytes) -> list[tuple[int, bytes]]:
    """The (tag, content) items of one DER SEQUENCE's body, or of a bare run of items."""
    items, i = [], 0
    while i < len(der):
        tag, length = der[i], der[i + 1]
        i += 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(der[i:i + count], "big")
            i += count
        items.append((tag, der[i:i + length]))
        i += length
    return items


def der(tag: int, body: bytes) -> bytes:
    n = len(body)
    size = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes(
        (n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + size + body


@dataclass
class Sm2Key:
    """An SM2 key pair made by openssl: its PEM file, private scalar and X || Y."""

    pem: Path
    pub_pem: Path
    d: bytes
    pub: bytes


def openssl_sm2_key(directory: Path, name: str) -> Sm2Key:
    pem, pub_pem = directory / f"{name}.pem", directory / f"{name}.pub.pem"
    assert openssl("genpkey", "-algorithm", "SM2", "-out", str(pem)).returncode == 0
    assert openssl("pkey", "-in", str(pem), "-pubout", "-out", str(pub_pem)).returncode == 0
    # ECPrivateKey: SEQUENCE { INTEGER 1, OCTET STRING d, [0] curve, [1] BIT STRING 04 X Y }
    (_, seq), = der_items(openssl("pkey", "-in", str(pem), "-outform", "DER").stdout)
    fields = dict(der_items(seq))
    d = fields[0x04].rjust(32, b"\0")
    (_, bits), = der_items(fields[0xA1])
    assert bits[:2] == b"\x00\x04"
    return Sm2Key(pem, pub_pem, d, bits[2:])


def cipher_from_der(ct: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """GM/T 0009 SEQUENCE { x, y, hash, ciphertext } into (x, y, C3, C2), x and y 32 bytes."""
    (_, seq), = der_items(ct)
    (_, x), (_, y), (_, c3), (_, c2) = der_items(seq)
    return x[-32:].rjust(32, b"\0"), y[-32:].rjust(32, b"\0"), c3, c2


def cipher_to_der(x: bytes, y: bytes, c3: bytes, c2: bytes) -> bytes:
    return der(0x30, _der_int(x) + _der_int(y) + der(0x04, c3) + der(0x04, c2))


def cipher_blob(x: bytes, y: bytes, c3: bytes, c2: bytes) -> Any:
    """An ECCCIPHERBLOB sized for its C2 (165 + len - 1 bytes)."""
    raw = ffi.new("uint8_t[]", ffi.sizeof("ECCCIPHERBLOB") + len(c2))
    blob = ffi.cast("ECCCIPHERBLOB *", raw)
    blob.X[32:64] = x
    blob.Y[32:64] = y
    blob.HASH[0:32] = c3
    blob.CipherLen = len(c2)
    ffi.memmove(ffi.addressof(blob.Cipher), c2, len(c2))
    return raw, blob


def blob_parts(blob: Any) -> tuple[bytes, bytes, bytes, bytes]:
    x, y = bytes(blob.X), bytes(blob.Y)
    assert x[:32] == bytes(32) and y[:32] == bytes(32)
    return x[32:], y[32:], bytes(blob.HASH), bytes(ffi.buffer(ffi.addressof(blob.Cipher), blob.CipherLen))


def public_blob(pub: bytes) -> Any:
    blob = ffi.new("ECCPUBLICKEYBLOB *")
    blob.BitLen = 256
    blob.X[32:64] = pub[:32]
    blob.Y[32:64] = pub[32:]
    return blob
