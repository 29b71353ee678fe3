"""One SKF library, loaded with cffi in ABI mode from sitoken's own declarations (SKF.md section 2).

Structures travel as byte buffers (``void *`` here) and are read by ``blobs``, so a library's
answers are parsed by code that is tested on canned and hostile bytes. Only the functions SKF.md
lists as required must exist; every other one is looked up when first used, and a missing one
is NotSupported, as vendor libraries often lack the optional calls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import cffi

from .. import trace
from ..errors import ModuleLoadError, NotSupported
from .blobs import MalformedBlob, parse_name_list
from .constants import SAR_BY_NAME, SAR_OK, sar_name
from .errors import error_for_sar

REQUIRED = (
    "SKF_EnumDev", "SKF_ConnectDev", "SKF_DisConnectDev", "SKF_GetDevInfo", "SKF_EnumApplication",
    "SKF_OpenApplication", "SKF_CloseApplication", "SKF_VerifyPIN", "SKF_GetPINInfo", "SKF_EnumContainer",
    "SKF_OpenContainer", "SKF_CloseContainer", "SKF_ExportCertificate", "SKF_ExportPublicKey",
    "SKF_ECCSignData",
)
#: Names some vendor libraries export instead of the spec's (SKF.md section 10, quirk 1).
ALIASES = {"SKF_GetContainerType": ("SKF_GetContianerType",)}
MAX_OUTPUT = 1 << 20  # no SKF answer (a name list, a certificate) is near a megabyte
_SIZE_TRIES = 3

_CDEF = """
typedef {ulong} ULONG;
typedef void *HANDLE;
typedef struct {{ unsigned char IV[32]; ULONG IVLen; ULONG PaddingType; ULONG FeedBitLen; }} BLOCKCIPHERPARAM;

ULONG SKF_EnumDev(int bPresent, char *szNameList, ULONG *pulSize);
ULONG SKF_ConnectDev(char *szName, HANDLE *phDev);
ULONG SKF_DisConnectDev(HANDLE hDev);
ULONG SKF_GetDevState(char *szDevName, ULONG *pulDevState);
ULONG SKF_GetDevInfo(HANDLE hDev, void *pDevInfo);
ULONG SKF_LockDev(HANDLE hDev, ULONG ulTimeOut);
ULONG SKF_UnlockDev(HANDLE hDev);
ULONG SKF_GenRandom(HANDLE hDev, unsigned char *pbRandom, ULONG ulRandomLen);
ULONG SKF_DevAuth(HANDLE hDev, unsigned char *pbAuthData, ULONG ulLen);
ULONG SKF_ChangeDevAuthKey(HANDLE hDev, unsigned char *pbKeyValue, ULONG ulKeyLen);

ULONG SKF_ChangePIN(HANDLE hApp, ULONG ulPINType, char *szOldPin, char *szNewPin, ULONG *pulRetryCount);
ULONG SKF_GetPINInfo(HANDLE hApp, ULONG ulPINType, ULONG *pulMaxRetryCount, ULONG *pulRemainRetryCount,
                     void *pbDefaultPin);
ULONG SKF_VerifyPIN(HANDLE hApp, ULONG ulPINType, char *szPIN, ULONG *pulRetryCount);
ULONG SKF_UnblockPIN(HANDLE hApp, char *szAdminPIN, char *szNewUserPIN, ULONG *pulRetryCount);
ULONG SKF_ClearSecureState(HANDLE hApp);

ULONG SKF_CreateApplication(HANDLE hDev, char *szAppName, char *szAdminPin, ULONG dwAdminPinRetryCount,
                            char *szUserPin, ULONG dwUserPinRetryCount, ULONG dwCreateFileRights,
                            HANDLE *phApplication);
ULONG SKF_EnumApplication(HANDLE hDev, char *szAppName, ULONG *pulSize);
ULONG SKF_DeleteApplication(HANDLE hDev, char *szAppName);
ULONG SKF_OpenApplication(HANDLE hDev, char *szAppName, HANDLE *phApplication);
ULONG SKF_CloseApplication(HANDLE hApp);

ULONG SKF_CreateContainer(HANDLE hApp, char *szContainerName, HANDLE *phContainer);
ULONG SKF_DeleteContainer(HANDLE hApp, char *szContainerName);
ULONG SKF_OpenContainer(HANDLE hApp, char *szContainerName, HANDLE *phContainer);
ULONG SKF_CloseContainer(HANDLE hContainer);
ULONG SKF_EnumContainer(HANDLE hApp, char *szContainerName, ULONG *pulSize);
ULONG SKF_GetContainerType(HANDLE hContainer, ULONG *pulContainerType);
ULONG SKF_GetContianerType(HANDLE hContainer, ULONG *pulContainerType);
ULONG SKF_ImportCertificate(HANDLE hContainer, int bSignFlag, unsigned char *pbCert, ULONG ulCertLen);
ULONG SKF_ExportCertificate(HANDLE hContainer, int bSignFlag, unsigned char *pbCert, ULONG *pulCertLen);

ULONG SKF_GenECCKeyPair(HANDLE hContainer, ULONG ulAlgId, void *pBlob);
ULONG SKF_GenRSAKeyPair(HANDLE hContainer, ULONG ulBitsLen, void *pBlob);
ULONG SKF_ImportECCKeyPair(HANDLE hContainer, void *pEnvelopedKeyBlob);
ULONG SKF_ECCSignData(HANDLE hContainer, unsigned char *pbDigest, ULONG ulDigestLen, void *pSignature);
ULONG SKF_ECCVerify(HANDLE hDev, void *pECCPubKeyBlob, unsigned char *pbData, ULONG ulDataLen, void *pSignature);
ULONG SKF_RSASignData(HANDLE hContainer, unsigned char *pbData, ULONG ulDataLen, unsigned char *pbSignature,
                      ULONG *pulSignLen);
ULONG SKF_ExportPublicKey(HANDLE hContainer, int bSignFlag, unsigned char *pbBlob, ULONG *pulBlobLen);
ULONG SKF_ExtECCEncrypt(HANDLE hDev, void *pECCPubKeyBlob, unsigned char *pbPlainText, ULONG ulPlainTextLen,
                        void *pCipherText);
ULONG SKF_ECCDecrypt(HANDLE hContainer, void *pCipherText, unsigned char *pbPlainText, ULONG *pulPlainTextLen);
ULONG SKF_SetSymmKey(HANDLE hDev, unsigned char *pbKey, ULONG ulAlgID, HANDLE *phKey);
ULONG SKF_EncryptInit(HANDLE hKey, BLOCKCIPHERPARAM EncryptParam);
ULONG SKF_Encrypt(HANDLE hKey, unsigned char *pbData, ULONG ulDataLen, unsigned char *pbEncryptedData,
                  ULONG *pulEncryptedLen);
ULONG SKF_CloseHandle(HANDLE hHandle);
"""


class SkfLibrary:
    """A loaded SKF library: ``call`` raises sitoken's errors, ``sized`` does the two-call size query."""

    def __init__(self, path: str, *, ulong: int = 4) -> None:
        if ulong not in (4, 8):
            raise ModuleLoadError("ULONG is 4 or 8 bytes")
        self.path, self.ulong = path, ulong
        self.ffi = cffi.FFI()
        self.ffi.cdef(_CDEF.format(ulong="uint32_t" if ulong == 4 else "uint64_t"))
        try:
            self._lib: Any = self.ffi.dlopen(path)
        except OSError as exc:
            raise ModuleLoadError(f"cannot load SKF library {path}: {exc}", function="dlopen") from None
        self._functions: dict[str, Callable[..., int] | None] = {}
        self._lock = threading.Lock()
        missing = [name for name in REQUIRED if not self.has(name)]
        if missing:
            raise ModuleLoadError(f"{path} is not an SKF library: it lacks {', '.join(missing)}")

    def _resolve(self, name: str) -> Callable[..., int] | None:
        with self._lock:
            if name not in self._functions:
                self._functions[name] = None
                for symbol in (name, *ALIASES.get(name, ())):
                    try:
                        self._functions[name] = getattr(self._lib, symbol)
                        break
                    except AttributeError:
                        continue
            return self._functions[name]

    def has(self, name: str) -> bool:
        """True when the library exports ``name`` (or a known misspelling of it)."""
        return self._resolve(name) is not None

    def call(self, name: str, *args: Any, remaining: Any = None) -> None:
        """Call ``name``; a SAR code other than SAR_OK becomes the matching sitoken error.

        ``remaining`` is the ``ULONG *`` retry-count output of a PIN call, read on failure.
        """
        rv = self.raw(name, *args)
        if rv != SAR_OK:
            tries = int(remaining[0]) if remaining is not None else None
            raise error_for_sar(rv, name, remaining=tries)

    def raw(self, name: str, *args: Any) -> int:
        """Call ``name`` and return its SAR code as an unsigned 32-bit number."""
        function = self._resolve(name)
        if function is None:
            raise NotSupported(f"the SKF library does not export {name}", rv=SAR_BY_NAME["SAR_NOTSUPPORTYETERR"],
                               function=name)
        rv = int(function(*args)) & 0xFFFFFFFF
        # Only the name and the code: the arguments include PIN buffers and key blobs.
        trace.call("skf", name, None, sar_name(rv))
        return rv

    def sized(self, name: str, *args: Any) -> bytes:
        """The output of a size-query call: ask the size with NULL, then fill a buffer of that size.

        The library's reported length is trusted only up to the buffer sitoken allocated.
        """
        size = self.ffi.new("ULONG *", 0)
        self.call(name, *args, self.ffi.NULL, size)
        for _ in range(_SIZE_TRIES):
            wanted = int(size[0])
            if wanted > MAX_OUTPUT:
                raise MalformedBlob(f"{name} asked for {wanted} bytes, more than any SKF answer needs")
            buffer = self.ffi.new("unsigned char[]", max(wanted, 1))
            size[0] = max(wanted, 1)
            rv = self.raw(name, *args, buffer, size)
            if rv == SAR_BY_NAME["SAR_BUFFER_TOO_SMALL"]:
                continue  # grew between the two calls: ask again with the new size
            if rv != SAR_OK:
                raise error_for_sar(rv, name)
            return bytes(self.ffi.buffer(buffer, min(int(size[0]), max(wanted, 1))))
        raise MalformedBlob(f"{name} kept answering SAR_BUFFER_TOO_SMALL")

    def into(self, name: str, *args: Any, capacity: int) -> bytes:
        """An output of at most ``capacity`` bytes, without a size query (signing must not run twice)."""
        buffer = self.buffer(capacity)
        size = self.ffi.new("ULONG *", capacity)
        self.call(name, *args, buffer, size)
        return bytes(self.ffi.buffer(buffer, min(int(size[0]), capacity)))

    def names(self, name: str, *args: Any) -> list[str]:
        """A double-NUL name list (EnumDev, EnumApplication, EnumContainer, EnumFiles)."""
        data = self.sized(name, *args)
        return parse_name_list(data, len(data))

    def buffer(self, size: int) -> Any:
        return self.ffi.new("unsigned char[]", size)

    def out_ulong(self) -> Any:
        return self.ffi.new("ULONG *", 0)

    def out_handle(self) -> Any:
        return self.ffi.new("HANDLE *")

    def text(self, value: bytes) -> Any:
        """A NUL-terminated char buffer (PINs go through here: wipe it with ``wipe``)."""
        return self.ffi.new("char[]", value)

    def wipe(self, buffer: Any) -> None:
        self.ffi.memmove(buffer, b"\0" * len(self.ffi.buffer(buffer)), len(self.ffi.buffer(buffer)))
