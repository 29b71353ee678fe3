"""An SKF application on a device as a sitoken Token: PINs with exact retries, SM2 keys, certificates.

The mapping (DESIGN.md, "SKF and the national algorithms"): a token is an application on a
device; a key pair is one half of a container, selected as ``NAME`` (the signature pair) or
``NAME/enc`` (the encryption pair); a key's id is its selector in hex; each half has one
certificate slot. SM2 signing hashes on the host (e = SM3(Z ‖ M), Z from ``sm2_id``) and the
token signs e, the one way every SKF library agrees on (SKF.md section 2.6).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from asn1crypto import x509

from .. import pubkey, sm2
from ..algorithms import ecdsa_der_to_raw, ecdsa_raw_to_der, host_input
from ..errors import (
    FinalTryGuard,
    InvalidInput,
    KeyNotFound,
    MechanismUnsupported,
    NotSupported,
    PinLocked,
    SitokenError,
    TokenAbsent,
    TokenError,
)
from ..pin import SO_PIN_POLICY, Pin, PinPolicy, PinRole, PinStatus
from ..sm2.envelope import EnvelopedKey
from ..token import Capabilities, KeyInfo, KeyType, Mechanism, StoredCertificate, Token, TokenInfo
from . import blobs
from .binding import SkfLibrary
from .constants import (
    ADMIN_TYPE,
    SAR_BY_NAME,
    SECURE_USER_ACCOUNT,
    SGD_RSA,
    SGD_SM2_1,
    SGD_SM2_1_OLD,
    USER_TYPE,
)
from .devauth import DeviceKey, authenticate
from .errors import error_for_sar

ENC_SUFFIX = "/enc"
MAX_NAME = 64  # container names: 64 bytes in most headers (128 in some); the smaller is safe
MAX_APP_NAME = 32
RSA_MECHANISMS = (Mechanism.RSA_PKCS_SHA256, Mechanism.RSA_PKCS_SHA384)
_ROLE_TYPE = {PinRole.USER: USER_TYPE, PinRole.SO: ADMIN_TYPE}
_WHO = {PinRole.USER: "user PIN", PinRole.SO: "admin PIN"}
# Codes with which a library refuses an algorithm id it numbers differently (SKF.md section 5).
_OTHER_NUMBERING = {SAR_BY_NAME["SAR_NOTSUPPORTYETERR"], SAR_BY_NAME["SAR_INVALIDPARAMERR"],
                    SAR_BY_NAME["SAR_KEYINFOTYPEERR"]}
_NOT_A_VERDICT = {SAR_BY_NAME[n] for n in ("SAR_NOTSUPPORTYETERR", "SAR_DEVICE_REMOVED", "SAR_INVALIDHANDLEERR")}


@dataclass(frozen=True)
class ApplicationTemplate:
    """What ``init_token`` gives a new application: the counter's retry limits and rights."""

    admin_retries: int = 10
    user_retries: int = 6
    create_file_rights: int = SECURE_USER_ACCOUNT

    def __post_init__(self) -> None:
        if not (1 <= self.user_retries <= 15 and 1 <= self.admin_retries <= 15):
            raise InvalidInput("PIN retry limits are 1-15")


@dataclass(frozen=True)
class KeyRef:
    """One container half: ``sign`` is the signature pair, else the encryption pair."""

    container: str
    sign: bool

    @property
    def label(self) -> str:
        return self.container if self.sign else self.container + ENC_SUFFIX

    @classmethod
    def parse(cls, selector: str) -> KeyRef:
        text = selector.strip()
        if text.startswith("id:"):
            try:
                text = blobs.decode_name(bytes.fromhex(text[3:]))
            except ValueError:
                raise KeyNotFound(f"{selector!r}: id:HEX must be hexadecimal") from None
        sign = not text.endswith(ENC_SUFFIX)
        name = text if sign else text[: -len(ENC_SUFFIX)]
        if not name:
            raise KeyNotFound(f"{selector!r} names no container")
        return cls(name, sign)


class SkfToken(Token):
    """One application (``app``) on one device of an SKF library; ``app=None`` before ``init_token``."""

    def __init__(
        self, library: SkfLibrary, device: str, app: str | None = None, *,
        policy: PinPolicy | None = None, so_policy: PinPolicy | None = None,
        device_key: DeviceKey | None = None, template: ApplicationTemplate | None = None,
    ) -> None:
        self.library, self.device, self.app_name = library, device, app
        self.policy = policy or PinPolicy()
        self.so_policy = so_policy or SO_PIN_POLICY
        self.device_key, self.template = device_key, template or ApplicationTemplate()
        self._ffi = library.ffi
        self._dev: Any = None
        self._app: Any = None
        self._sm2_alg: int | None = None
        handle = library.out_handle()
        library.call("SKF_ConnectDev", blobs.encode_name(device), handle)
        self._dev = handle[0]
        try:
            if app is not None:
                self.select_application(app)
        except BaseException:
            self.close()
            raise

    # -- plumbing ----------------------------------------------------------------------------

    def select_application(self, name: str) -> None:
        handle = self.library.out_handle()
        self.library.call("SKF_OpenApplication", self._dev, blobs.encode_name(name), handle)
        self._app, self.app_name = handle[0], name

    def _need_app(self) -> Any:
        if self._app is None:
            raise KeyNotFound(f"device {self.device!r} has no application selected: run 'token init' first")
        return self._app

    def devinfo(self) -> blobs.DevInfo:
        buffer = self.library.buffer(blobs.devinfo_size(self.library.ulong))
        self.library.call("SKF_GetDevInfo", self._dev, buffer)
        return blobs.DevInfo.parse(bytes(self._ffi.buffer(buffer)), self.library.ulong)

    def applications(self) -> list[str]:
        return self.library.names("SKF_EnumApplication", self._dev)

    def containers(self) -> list[str]:
        return self.library.names("SKF_EnumContainer", self._need_app())

    @contextlib.contextmanager
    def _container(self, name: str, *, create: bool = False) -> Iterator[Any]:
        handle = self.library.out_handle()
        function = "SKF_CreateContainer" if create else "SKF_OpenContainer"
        try:
            self.library.call(function, self._need_app(), blobs.encode_name(name), handle)
        except TokenError as exc:
            if create:
                raise
            raise KeyNotFound(f"no container {name!r} in application {self.app_name!r} ({exc})",
                              rv=exc.rv, function=exc.function) from None
        try:
            yield handle[0]
        finally:
            self.library.raw("SKF_CloseContainer", handle[0])

    # -- discovery -------------------------------------------------------------------------------

    def info(self) -> TokenInfo:
        dev = self.devinfo()
        has_app = self._app is not None
        return TokenInfo(
            label=self.app_name or "", serial=dev.serial, manufacturer=dev.manufacturer,
            model=dev.label or dev.issuer, driver="skf",
            uri=f"skf:{self.device}" + (f"/{self.app_name}" if has_app else ""),
            initialized=has_app, login_required=True,
            pin=self.pin_status(PinRole.USER) if has_app else PinStatus(PinRole.USER, initialized=False),
            so_pin=self.pin_status(PinRole.SO) if has_app else PinStatus(PinRole.SO, initialized=False),
            flags=(f"dev-auth-alg:{dev.dev_auth_alg_id:#x}",), slot=self.device,
        )

    def pin_status(self, role: PinRole = PinRole.USER) -> PinStatus:
        maximum, remaining = self.library.out_ulong(), self.library.out_ulong()
        default = self._ffi.new("unsigned char[8]")  # BOOL is 4 or 8 bytes: read the low 4 (SKF.md 3)
        self.library.call("SKF_GetPINInfo", self._need_app(), _ROLE_TYPE[role], maximum, remaining, default)
        tries, most = int(remaining[0]), int(maximum[0])
        return PinStatus(
            role=role, initialized=True, remaining=tries, maximum=most,
            count_low=0 < tries < most, final_try=tries == 1, locked=tries == 0,
            must_change=any(bytes(default[0:4])),
        )

    @property
    def capabilities(self) -> Capabilities:
        rsa = self._offers_rsa()
        return Capabilities(
            can_init_token=self.library.has("SKF_CreateApplication") and self.library.has("SKF_DevAuth"),
            exact_retries=True,
            can_unblock=self.library.has("SKF_UnblockPIN"),
            key_types=(KeyType.SM2, *((KeyType.RSA2048,) if rsa else ())),
            mechanisms=(Mechanism.SM2_SM3, *(RSA_MECHANISMS if rsa else ())),
            can_delete_keys=self.library.has("SKF_DeleteContainer"),
            stores_ca_certificates=False,  # a container has a signature and an encryption slot only
            key_id_is_label=True, imports_enveloped_keys=self.library.has("SKF_ImportECCKeyPair"),
        )

    def _offers_rsa(self) -> bool:
        return self.library.has("SKF_GenRSAKeyPair") and bool(self.devinfo().alg_asym_cap & SGD_RSA)

    # -- PIN lifecycle -------------------------------------------------------------------------------

    def _guard(self, role: PinRole, force: bool) -> None:
        """Refuse before anything is sent: a locked PIN, or the final try without ``force``."""
        status = self.pin_status(role)
        if status.locked:
            raise PinLocked(f"the {_WHO[role]} is locked; nothing was sent to the token")
        if status.final_try and not force:
            raise FinalTryGuard(f"one try left on the {_WHO[role]}: refusing without force")

    def _pin_call(self, function: str, *args: Any, pins: tuple[Pin, ...]) -> None:
        """A PIN call with C strings that are wiped afterwards; failures carry the exact tries left."""
        texts = [self.library.text(pin.reveal()) for pin in pins]
        remaining = self.library.out_ulong()
        try:
            self.library.call(function, self._need_app(), *args, *texts, remaining, remaining=remaining)
        finally:
            for text in texts:
                self.library.wipe(text)

    def login(self, pin: Pin, *, force: bool = False) -> None:
        self._guard(PinRole.USER, force)
        self._pin_call("SKF_VerifyPIN", USER_TYPE, pins=(pin,))

    def login_admin(self, so_pin: Pin, *, force: bool = False) -> None:
        self._guard(PinRole.SO, force)
        self._pin_call("SKF_VerifyPIN", ADMIN_TYPE, pins=(so_pin,))

    def logout(self) -> None:
        if self._app is not None:
            self.library.raw("SKF_ClearSecureState", self._app)

    def change_pin(self, old_pin: Pin, new_pin: Pin, *, force: bool = False) -> None:
        self.policy.enforce(new_pin)
        self._guard(PinRole.USER, force)
        self._pin_call("SKF_ChangePIN", USER_TYPE, pins=(old_pin, new_pin))

    def change_so_pin(self, old_so_pin: Pin, new_so_pin: Pin, *, force: bool = False) -> None:
        self.so_policy.enforce(new_so_pin)
        self._guard(PinRole.SO, force)
        self._pin_call("SKF_ChangePIN", ADMIN_TYPE, pins=(old_so_pin, new_so_pin))

    def reset_pin(self, so_pin: Pin, new_pin: Pin, *, force: bool = False) -> None:
        """SKF_UnblockPIN: a new user PIN and its full retry count; a wrong admin PIN counts down."""
        self.policy.enforce(new_pin, avoid=[so_pin.text()])
        self._guard(PinRole.SO, force)
        self._pin_call("SKF_UnblockPIN", pins=(so_pin, new_pin))

    def init_pin(self, so_pin: Pin, new_pin: Pin) -> None:
        self.reset_pin(so_pin, new_pin)

    def init_token(self, so_pin: Pin, label: str, *, force: bool = False) -> None:
        """(Re)create the application ``label`` with ``so_pin`` as its admin PIN and the template's limits.

        Needs the device authentication key (``device_key``). The existing application of this
        token, and one already named ``label``, are deleted first. The user PIN is a random
        throwaway until :meth:`init_pin` sets the holder's.
        """
        name = _app_name(label)
        self.so_policy.enforce(so_pin)  # checked before the device is touched
        if self.device_key is None:
            raise InvalidInput("creating an SKF application needs the device authentication key "
                               "(--device-key-env VAR or --device-key-file PATH, never on the command line)")
        authenticate(self.library, self._dev, self.device_key, self.devinfo().dev_auth_alg_id)
        existing = set(self.applications())
        for old in {self.app_name, name} & existing:
            self.close_application()
            self.library.call("SKF_DeleteApplication", self._dev, blobs.encode_name(old or ""))
        with Pin(_throwaway_pin()) as user:
            admin_text, user_text = self.library.text(so_pin.reveal()), self.library.text(user.reveal())
            handle = self.library.out_handle()
            t = self.template
            try:
                self.library.call("SKF_CreateApplication", self._dev, blobs.encode_name(name), admin_text,
                                  t.admin_retries, user_text, t.user_retries, t.create_file_rights, handle)
            finally:
                self.library.wipe(admin_text)
                self.library.wipe(user_text)
        self._app, self.app_name = handle[0], name

    # -- keys -------------------------------------------------------------------------------------------

    def keys(self) -> list[KeyInfo]:
        found: list[KeyInfo] = []
        for name in self.containers():
            with self._container(name) as handle:
                found += [info for sign in (True, False) if (info := self._half(handle, KeyRef(name, sign)))]
        return found

    def _half(self, handle: Any, ref: KeyRef) -> KeyInfo | None:
        """The KeyInfo of one container half, or None when that half holds no key."""
        try:
            spki = self._export_public(handle, ref.sign)
        except (KeyNotFound, blobs.MalformedBlob):
            return None
        except TokenError as exc:
            if exc.rv is None or isinstance(exc, TokenAbsent):
                raise
            return None  # libraries differ in how they say "no key here"
        return KeyInfo(
            label=ref.label, id=ref.label.encode("utf-8", "surrogateescape").hex(),
            key_type=pubkey.key_type_of_spki(spki), has_private=True, has_public=True,
            extra={"container": ref.container, "usage": "signature" if ref.sign else "encryption"},
        )

    def _export_public(self, handle: Any, sign: bool) -> bytes:
        blob = self.library.sized("SKF_ExportPublicKey", handle, int(sign))
        if len(blob) >= blobs.rsa_public_blob_size(self.library.ulong):
            return blobs.parse_rsa_public_blob(blob, self.library.ulong)
        if not blob:
            raise KeyNotFound("this container half holds no key")
        return sm2.spki_from_point(blobs.parse_ecc_public_blob(blob, self.library.ulong))

    def container_type(self, name: str) -> int:
        """SKF_GetContainerType (or the misspelled export): 0 empty, 1 RSA, 2 ECC."""
        with self._container(name) as handle:
            out = self.library.out_ulong()
            self.library.call("SKF_GetContainerType", handle, out)
            return int(out[0])

    def find_key(self, selector: str) -> KeyInfo:
        ref = KeyRef.parse(selector)
        with self._container(ref.container) as handle:
            info = self._half(handle, ref)
        if info is None:
            half = "signature" if ref.sign else "encryption"
            raise KeyNotFound(f"container {ref.container!r} holds no {half} key pair")
        return info

    def delete_key(self, selector: str) -> KeyInfo:
        """Delete the key's container: both halves and both certificates go (SKF deletes containers)."""
        info = self.find_key(selector)
        self.library.call("SKF_DeleteContainer", self._need_app(), blobs.encode_name(KeyRef.parse(selector).container))
        return info

    def generate_key(self, key_type: KeyType, label: str, key_id: bytes | None = None) -> KeyInfo:
        """A signature key pair in a new container ``label`` (SM2, or RSA-2048 where offered).

        Encryption key pairs are never generated on an SKF token: a KMC's envelope brings
        them (:meth:`import_encryption_key`). ``key_id``, if given, must be the label's bytes.
        """
        ref = KeyRef(_container_name(label), True)
        if key_id and key_id != ref.label.encode():
            raise NotSupported("SKF keys are named by their container; the id is the name's bytes "
                               f"({ref.label.encode().hex()}), not {key_id.hex()}")
        if key_type not in self.capabilities.key_types:
            raise NotSupported(f"this SKF token generates {', '.join(k.value for k in self.capabilities.key_types)}"
                               f", not {key_type.value}")
        if ref.container in self.containers():
            raise InvalidInput(f"container {ref.container!r} already exists; delete it or choose another label")
        with self._container(ref.container, create=True) as handle:
            try:
                self._generate(handle, key_type)
            except BaseException:
                with contextlib.suppress(SitokenError):  # leave no empty container behind
                    self.library.call("SKF_DeleteContainer", self._app, blobs.encode_name(ref.container))
                raise
        return self.find_key(ref.label)

    def _generate(self, handle: Any, key_type: KeyType) -> None:
        if key_type is KeyType.RSA2048:
            out = self.library.buffer(blobs.rsa_public_blob_size(self.library.ulong))
            self.library.call("SKF_GenRSAKeyPair", handle, 2048, out)
            return
        out = self.library.buffer(blobs.ecc_public_blob_size(self.library.ulong))
        for alg in (self._sm2_alg,) if self._sm2_alg else (SGD_SM2_1, SGD_SM2_1_OLD):
            rv = self.library.raw("SKF_GenECCKeyPair", handle, alg, out)
            if rv not in _OTHER_NUMBERING or alg == SGD_SM2_1_OLD:
                break  # this library's numbering, or a failure that is not about it
        if rv == 0:
            self._sm2_alg = alg
            return
        raise error_for_sar(rv, "SKF_GenECCKeyPair")

    def import_encryption_key(self, selector: str, envelope: bytes) -> KeyInfo:
        """SKF_ImportECCKeyPair: the KMC's ENVELOPEDKEYBLOB becomes the container's encryption pair."""
        ref = KeyRef.parse(selector)
        with self._container(ref.container) as handle:
            buffer = self._ffi.from_buffer(envelope)
            self.library.call("SKF_ImportECCKeyPair", handle, buffer)
        return self.find_key(KeyRef(ref.container, False).label)

    def import_enveloped_key(self, selector: str, envelope_der: bytes) -> KeyInfo:
        """The Token form of :meth:`import_encryption_key`: a GM/T 0009 SM2EnvelopedKey in DER."""
        envelope = EnvelopedKey.from_der(envelope_der)
        return self.import_encryption_key(selector, blobs.enveloped_key_blob(envelope, self.library.ulong))

    def decrypt_sm2(self, selector: str, ciphertext_der: bytes) -> bytes:
        return self.decrypt(selector, sm2.Sm2Ciphertext.from_der(ciphertext_der))

    def decrypt(self, selector: str, ciphertext: sm2.Sm2Ciphertext) -> bytes:
        """SM2-decrypt with a container's encryption key (the common vendor extra SKF_ECCDecrypt).

        Libraries without it raise NotSupported (SKF.md section 10, quirk 4); the
        (hContainer, ECCCIPHERBLOB*, out, outLen*) form is the one most libraries export.
        """
        ref = KeyRef.parse(selector)
        if ref.sign:
            raise MechanismUnsupported("SM2 decryption uses a container's encryption key: select NAME/enc")
        blob = blobs.build_ecc_cipher_blob(ciphertext, self.library.ulong)
        with self._container(ref.container) as handle:
            return self.library.into("SKF_ECCDecrypt", handle, self._ffi.from_buffer(blob),
                                     capacity=len(ciphertext.cipher))

    def public_key_der(self, selector: str) -> bytes:
        ref = KeyRef.parse(selector)
        with self._container(ref.container) as handle:
            return self._export_public(handle, ref.sign)

    # -- signing ------------------------------------------------------------------------------------------

    def _mechanism(self, selector: str, mechanism: Mechanism | None) -> tuple[KeyRef, KeyInfo, Mechanism]:
        ref, info = KeyRef.parse(selector), self.find_key(selector)
        if info.key_type is None:
            raise MechanismUnsupported(f"key {info.label!r} has a type sitoken cannot use")
        mechanism = mechanism or info.key_type.default_mechanism
        if mechanism.family != info.key_type.family or mechanism not in self.capabilities.mechanisms:
            raise MechanismUnsupported(f"{mechanism.value} does not fit {info.key_type.value} key {info.label!r}")
        return ref, info, mechanism

    def sign(self, selector: str, data: bytes, mechanism: Mechanism | None = None) -> bytes:
        """SM2-with-SM3 (DER, Z from ``sm2_id``) or RSA PKCS#1 v1.5, by the signature key."""
        return self._sign(selector, data, mechanism, prehashed=False)

    def sign_digest(self, selector: str, digest: bytes, mechanism: Mechanism | None = None) -> bytes:
        """Sign a hash computed elsewhere: for SM2 it is e = SM3(Z ‖ M), Z from the signer's public key
        and ID (what SKF_ECCSignData signs, GM/T 0009); for RSA the digest of the mechanism's hash."""
        return self._sign(selector, digest, mechanism, prehashed=True)

    def _sign(self, selector: str, data: bytes, mechanism: Mechanism | None, *, prehashed: bool) -> bytes:
        ref, _, mechanism = self._mechanism(selector, mechanism)
        if not ref.sign:
            raise MechanismUnsupported("SKF signs with a container's signature key only, not its encryption key")
        with self._container(ref.container) as handle:
            if mechanism is Mechanism.SM2_SM3:
                return self.sign_digest_handle(handle, _sm2_e(data) if prehashed else sm2.e_value(
                    sm2.point_from_spki(self._export_public(handle, True)), data, self._ident()))
            block = host_input(mechanism, data, prehashed=prehashed)  # RSA PKCS#1 v1.5: the DigestInfo
            return self.library.into("SKF_RSASignData", handle, block, len(block), capacity=blobs.RSA_MODULUS)

    def _ident(self) -> bytes:
        return self.sm2_id or sm2.DEFAULT_ID

    def sign_many(
        self, selector: str, records: Iterable[bytes], mechanism: Mechanism | None = None
    ) -> Iterator[bytes]:
        """Signatures of many records, in order; SM2 on one open container with Z computed once."""
        ref, _, mechanism = self._mechanism(selector, mechanism)
        if mechanism is not Mechanism.SM2_SM3:
            yield from super().sign_many(selector, records, mechanism)
            return
        if not ref.sign:
            raise MechanismUnsupported("SKF signs with a container's signature key only")
        with self._container(ref.container) as handle:
            point = sm2.point_from_spki(self._export_public(handle, True))
            z = sm2.z_value(point, self._ident())
            for record in records:
                yield self.sign_digest_handle(handle, sm2.sm3(z + record))

    def sign_digest_handle(self, handle: Any, e: bytes) -> bytes:
        signature = self.library.buffer(2 * blobs.FIELD)
        self.library.call("SKF_ECCSignData", handle, e, len(e), signature)
        return ecdsa_raw_to_der(blobs.parse_ecc_signature_blob(bytes(self._ffi.buffer(signature))))

    def verify(
        self, selector: str, data: bytes, signature: bytes, mechanism: Mechanism | None = None
    ) -> bool:
        """SM2: SKF_ECCVerify on the token (where exported); RSA: on the host with the token's key."""
        ref, _, mechanism = self._mechanism(selector, mechanism)
        spki = self.public_key_der(ref.label)
        if mechanism is not Mechanism.SM2_SM3 or not self.library.has("SKF_ECCVerify"):
            return pubkey.verify_host(spki, data, signature, mechanism, sm2_id=self._ident())
        point = sm2.point_from_spki(spki)
        try:
            raw = ecdsa_der_to_raw(signature, sm2.encoding.SIZE)
            sig_blob = blobs.build_ecc_signature_blob(raw)
        except InvalidInput:
            return False
        rv = self.library.raw("SKF_ECCVerify", self._dev, blobs.build_ecc_public_blob(point, self.library.ulong),
                              sm2.e_value(point, data, self._ident()), 32, sig_blob)
        if rv in _NOT_A_VERDICT:
            raise error_for_sar(rv, "SKF_ECCVerify")
        return rv == 0

    # -- certificates --------------------------------------------------------------------------------------

    def certificates(self) -> list[StoredCertificate]:
        found = []
        for name in self.containers():
            with self._container(name) as handle:
                for sign in (True, False):
                    der = self._export_certificate(handle, sign)
                    ref = KeyRef(name, sign)
                    if der:
                        found.append(StoredCertificate(ref.label, ref.label.encode().hex(), der, False))
        return found

    def _export_certificate(self, handle: Any, sign: bool) -> bytes | None:
        try:
            return self.library.sized("SKF_ExportCertificate", handle, int(sign)) or None
        except (KeyNotFound, blobs.MalformedBlob):
            return None
        except TokenError as exc:
            if exc.rv is None or isinstance(exc, TokenAbsent):
                raise
            return None  # an empty slot: SAR_CERTNOTFOUNTERR in most libraries, other codes in some

    def import_certificate(self, der: bytes, *, label: str = "", key_id: bytes = b"", authority: bool = False) -> None:
        """Into the slot of the key pair named by ``key_id`` (or ``label``): signature or encryption."""
        if authority:
            raise NotSupported("an SKF container keeps its own two certificates, not CA certificates")
        try:
            x509.Certificate.load(der, strict=True).native  # noqa: B018 - parse all of it now
        except ValueError as exc:
            raise InvalidInput(f"not a DER X.509 certificate: {exc}") from None
        ref = KeyRef.parse(f"id:{key_id.hex()}" if key_id else label)
        with self._container(ref.container) as handle:
            self.library.call("SKF_ImportCertificate", handle, int(ref.sign), der, len(der))

    def delete_certificates(self, *, label: str | None = None, key_id: bytes | None = None) -> int:
        raise NotSupported("SKF has no call that deletes a certificate; importing another one replaces it")

    # -- closing ---------------------------------------------------------------------------------------------

    def close_application(self) -> None:
        if self._app is not None:
            self.library.raw("SKF_ClearSecureState", self._app)
            self.library.raw("SKF_CloseApplication", self._app)
            self._app = None

    def close(self) -> None:
        """Drop the security state and the handles, wipe the device key; idempotent, quiet on a removed device."""
        if self.device_key is not None:
            self.device_key.wipe()
        with contextlib.suppress(SitokenError):
            self.close_application()
        if self._dev is not None:
            with contextlib.suppress(SitokenError):
                self.library.raw("SKF_DisConnectDev", self._dev)
            self._dev = None


def _app_name(label: str) -> str:
    raw = blobs.encode_name(label)
    if len(raw) > MAX_APP_NAME or "/" in label:
        raise InvalidInput(f"an SKF application name is 1-{MAX_APP_NAME} bytes without '/'")
    return label


def _container_name(label: str) -> str:
    raw = blobs.encode_name(label)
    if len(raw) > MAX_NAME or label.endswith(ENC_SUFFIX) or label.startswith("id:"):
        raise InvalidInput(f"a container name is 1-{MAX_NAME} bytes and does not end in {ENC_SUFFIX!r}")
    return label


def _throwaway_pin() -> str:
    """A random user PIN for a new application, valid for any token (12 letters and digits)."""
    return "u" + secrets.token_hex(5) + str(secrets.randbelow(10))


def _sm2_e(e: bytes) -> bytes:
    if len(e) != sm2.encoding.SIZE:
        raise InvalidInput(f"an SM2 e value (SM3 of Z ‖ M) is {sm2.encoding.SIZE} bytes")
    return e
