"""The OpenPGP card application as a sitoken Token: PINs, RSA keys, signing, certificate."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..errors import (
    CardError,
    FinalTryGuard,
    InvalidInput,
    KeyNotFound,
    MechanismUnsupported,
    NotSupported,
    PinError,
    PinLocked,
    SitokenError,
    TokenAbsent,
    TokenNotFound,
)
from ..pin import SO_PIN_POLICY, Pin, PinPolicy, PinRole, PinStatus
from ..token import Capabilities, KeyInfo, KeyType, Mechanism, StoredCertificate, Token, TokenInfo
from . import openpgp_data as od
from . import tlv
from .apdu import SW_OK, ApduSession, CommandApdu, Connection, error_for_sw, pin_error
from .openpgp_data import PW1_OTHER, PW1_SIGN, PW3, ApplicationData, KeySlot

T = TypeVar("T")

FACTORY_PW1 = b"123456"
FACTORY_PW3 = b"12345678"
#: The admin PIN gets the card's 8-character minimum on top of sitoken's SO policy.
OPENPGP_SO_POLICY = PinPolicy(
    min_length=od.PW3_MIN_LENGTH, max_length=SO_PIN_POLICY.max_length,
    require_letter=False, require_digit=False,
)
SIGN_MECHANISMS = (Mechanism.RSA_PKCS_SHA256, Mechanism.RSA_PKCS_SHA384)
_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384}
_RSA2048_ATTRIBUTES = bytes.fromhex("010800002000")  # RSA, 2048-bit n, 32-bit e, standard format
_FINGERPRINT_TAG = {KeySlot.SIG: 0xC7, KeySlot.DEC: 0xC8, KeySlot.AUT: 0xC9}
_TIMESTAMP_TAG = {KeySlot.SIG: 0xCE, KeySlot.DEC: 0xCF, KeySlot.AUT: 0xD0}
_PIN_FAILED = frozenset({0x6982, 0x6983})
_KEYGEN_RETRIES = 25  # x 0.2 s: the emulator generates in the background and may lag


@dataclass
class _LoginState:
    """What this session knows about the card's security state (cleared on logout/removal)."""

    user: bool = False
    admin: bool = False
    sign_ready: bool = False  # PW1 (81) is valid for the next PSO:CDS
    # Cards in "PW1 valid for one signature" mode forget PW1 after each signature; the
    # PIN is kept (wipeable, never printed) to re-verify, as OpenSC and gpg-agent do.
    pin: Pin | None = field(default=None, repr=False)

    def forget(self) -> None:
        if self.pin is not None:
            self.pin.wipe()
        self.pin = None
        self.user = self.admin = self.sign_ready = False


class OpenPgpCard(Token):
    """An OpenPGP card (v2/v3) reached through any ``send_and_receive`` connection."""

    def __init__(
        self, connection: Connection, reader: str = "", *,
        policy: PinPolicy | None = None, so_policy: PinPolicy | None = None,
    ) -> None:
        self.connection = connection
        self.reader = reader
        self.policy = policy or PinPolicy()
        self.so_policy = so_policy or OPENPGP_SO_POLICY
        self._session = ApduSession(connection)
        self._login = _LoginState()
        self._select()
        self._session.extended = self._app_data().extended_length

    @classmethod
    def open(cls, reader: str, **kwargs: PinPolicy | None) -> OpenPgpCard:
        """Connect to the card in ``reader`` (PC/SC) and select the OpenPGP application."""
        from .transport import PcscConnection

        connection = PcscConnection(reader)
        try:
            return cls(connection, reader, **kwargs)
        except BaseException:
            connection.close()
            raise

    # -- plumbing --------------------------------------------------------------------

    def _guarded(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except TokenAbsent:
            self._login.forget()  # a removed card has lost its security state
            raise

    def _send(self, cmd: CommandApdu, action: str) -> bytes:
        return self._guarded(lambda: self._session.send(cmd, action))

    def _transceive(self, cmd: CommandApdu) -> tuple[bytes, int]:
        return self._guarded(lambda: self._session.transceive(cmd))

    def _le(self) -> int:
        return 65536 if self._session.extended else 256

    def _select(self) -> None:
        cmd = CommandApdu(0x00, 0xA4, 0x04, 0x00, od.OPENPGP_AID)
        _, sw = self._transceive(cmd)
        if sw != SW_OK:
            where = self.reader or "this card"
            raise TokenNotFound(f"no OpenPGP application on {where} (SW {sw:04X})", sw=sw)

    def _get_data(self, tag: int) -> bytes:
        cmd = CommandApdu(0x00, 0xCA, tag >> 8, tag & 0xFF, le=self._le())
        return self._send(cmd, f"GET DATA {tag:X}")

    def _put_data(self, tag: int, value: bytes, action: str) -> None:
        self._send(CommandApdu(0x00, 0xDA, tag >> 8, tag & 0xFF, value), action)

    def _app_data(self) -> ApplicationData:
        return ApplicationData.parse(self._get_data(od.DO_APPLICATION_RELATED))

    def _pw_status(self) -> od.PwStatus:
        return od.PwStatus.parse(self._get_data(od.DO_PW_STATUS))

    # -- discovery ---------------------------------------------------------------------

    def info(self) -> TokenInfo:
        app = self._app_data()
        name = tlv.find(self._get_data(od.DO_CARDHOLDER_RELATED), od.DO_NAME) or b""
        label = name.decode("latin-1").replace("<<", " ").strip()
        flags = ["pw1-multiple-signatures" if app.pw_status.pw1_multiple_signatures
                 else "pw1-single-signature"]
        if app.extended_length:
            flags.append("extended-length")
        return TokenInfo(
            label=label or f"OpenPGP card {app.aid.serial_hex}",
            serial=app.aid.serial_hex,
            manufacturer=app.aid.manufacturer,
            model=f"OpenPGP card v{app.aid.version_text}",
            driver="pcsc",
            uri=f"pcsc:{self.reader}",
            initialized=True,
            login_required=True,
            pin=_pin_status(PinRole.USER, app.pw_status.pw1_tries),
            so_pin=_pin_status(PinRole.SO, app.pw_status.pw3_tries),
            flags=tuple(flags),
            slot=self.reader,
        )

    def serials(self) -> tuple[str, ...]:
        """Serials the card answers to: the AID serial, and OpenSC's manufacturer + serial form."""
        aid = self._app_data().aid
        return aid.serial_hex.lower(), f"{aid.manufacturer_id:04x}{aid.serial_hex}".lower()

    def pin_status(self, role: PinRole = PinRole.USER) -> PinStatus:
        status = self._pw_status()
        tries = status.pw1_tries if role is PinRole.USER else status.pw3_tries
        return _pin_status(role, tries)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            can_init_token=True,  # TERMINATE DF + ACTIVATE FILE (factory reset)
            exact_retries=True,
            can_unblock=True,
            key_types=(KeyType.RSA2048,),
            mechanisms=SIGN_MECHANISMS,
            can_delete_keys=False,
            keygen_needs_so_pin=True,  # GENERATE ASYMMETRIC KEY PAIR and PUT DATA need PW3
            stores_ca_certificates=False,
            signature_key_slot=(KeySlot.SIG.label, f"{KeySlot.SIG.number:02x}"),
        )

    # -- PIN lifecycle -------------------------------------------------------------------

    def _check_tries(self, reference: int, force: bool) -> None:
        """Refuse before the card is touched: blocked, or one try left without ``force``."""
        tries = self._pw_status().tries(reference)
        what = "admin PIN" if reference == PW3 else "PIN"
        if tries == 0:
            raise PinLocked(f"the {what} is blocked; nothing was sent to the card")
        if tries == 1 and not force:
            raise FinalTryGuard(f"one try left on the {what}: refusing without force")

    def _pin_command(self, cmd: CommandApdu, reference: int, action: str) -> None:
        """Send a VERIFY / CHANGE REFERENCE DATA; a refusal becomes PinIncorrect or PinLocked."""
        _, sw = self._transceive(cmd)
        if sw == SW_OK:
            return
        if sw in _PIN_FAILED or sw & 0xFFF0 == 0x63C0:
            # Read the counter back: some cards (the emulator) answer 6982, not 63Cx.
            raise pin_error(action, self._pw_status().tries(reference), sw)
        raise error_for_sw(sw, action)

    def _verify(self, reference: int, pin: Pin, action: str) -> None:
        cmd = CommandApdu(0x00, 0x20, 0x00, reference, pin.reveal())
        self._pin_command(cmd, reference, action)

    def login(self, pin: Pin, *, force: bool = False) -> None:
        self._check_tries(PW1_SIGN, force)
        self._verify(PW1_SIGN, pin, "VERIFY PW1")
        self._verify(PW1_OTHER, pin, "VERIFY PW1")
        self._login.forget()
        self._login.user = self._login.sign_ready = True
        self._login.pin = Pin(pin.reveal())

    def login_admin(self, so_pin: Pin, *, force: bool = False) -> None:
        """Verify the admin PIN (PW3): needed for key generation and certificate import."""
        self._check_tries(PW3, force)
        self._verify(PW3, so_pin, "VERIFY PW3")
        self._login.admin = True

    def logout(self) -> None:
        self._login.forget()
        for reference in (PW1_SIGN, PW1_OTHER, PW3):
            # VERIFY with P1=FF resets the access status (spec v3); older cards say 6A86.
            self._transceive(CommandApdu(0x00, 0x20, 0xFF, reference))

    def change_pin(self, old_pin: Pin, new_pin: Pin, *, force: bool = False) -> None:
        self.policy.enforce(new_pin)
        self._check_tries(PW1_SIGN, force)
        cmd = CommandApdu(0x00, 0x24, 0x00, PW1_SIGN, old_pin.reveal() + new_pin.reveal())
        self._pin_command(cmd, PW1_SIGN, "CHANGE REFERENCE DATA PW1")
        if self._login.pin is not None:
            self._login.pin.wipe()
            self._login.pin = Pin(new_pin.reveal())

    def change_so_pin(self, old_so_pin: Pin, new_so_pin: Pin, *, force: bool = False) -> None:
        self.so_policy.enforce(new_so_pin)
        self._check_tries(PW3, force)
        cmd = CommandApdu(0x00, 0x24, 0x00, PW3, old_so_pin.reveal() + new_so_pin.reveal())
        self._pin_command(cmd, PW3, "CHANGE REFERENCE DATA PW3")

    def reset_pin(self, so_pin: Pin, new_pin: Pin, *, force: bool = False) -> None:
        """Unblock: VERIFY PW3, then RESET RETRY COUNTER sets PW1 and its full counter."""
        self.policy.enforce(new_pin)
        self.login_admin(so_pin, force=force)
        self._send(CommandApdu(0x00, 0x2C, 0x02, PW1_SIGN, new_pin.reveal()),
                   "RESET RETRY COUNTER")

    def init_pin(self, so_pin: Pin, new_pin: Pin) -> None:
        self.reset_pin(so_pin, new_pin)

    def init_token(self, so_pin: Pin, label: str, *, force: bool = False) -> None:
        """Factory reset (TERMINATE DF + ACTIVATE FILE), then the label and the admin PIN.

        ``so_pin`` must be the card's admin PIN; it stays the admin PIN after the reset.
        With ``force`` a card whose admin PIN is blocked is reset without it (the spec
        allows TERMINATE then), and the final admin try may be spent. The user PIN is
        back at the factory value: set the holder's PIN with :meth:`reset_pin` next.
        """
        name = _name_for(label)
        if so_pin.reveal() != FACTORY_PW3:
            self.so_policy.enforce(so_pin)  # checked before the card is touched
        if not (force and self._pw_status().pw3_tries == 0):
            self.login_admin(so_pin, force=force)
        self._send(CommandApdu(0x00, 0xE6, 0x00, 0x00), "TERMINATE DF")
        self._send(CommandApdu(0x00, 0x44, 0x00, 0x00), "ACTIVATE FILE")
        self._login.forget()
        self._select()
        with Pin(FACTORY_PW3) as factory:
            self._verify(PW3, factory, "VERIFY PW3 (factory)")
            self._put_data(od.DO_NAME, name, "PUT DATA name")
            if so_pin.reveal() != FACTORY_PW3:
                cmd = CommandApdu(0x00, 0x24, 0x00, PW3, factory.reveal() + so_pin.reveal())
                self._pin_command(cmd, PW3, "CHANGE REFERENCE DATA PW3")
        self._login.forget()

    # -- keys ----------------------------------------------------------------------------

    def keys(self) -> list[KeyInfo]:
        app = self._app_data()
        return [_key_info(app, slot) for slot in KeySlot if app.has_key(slot)]

    def find_key(self, selector: str) -> KeyInfo:
        slot = _slot(selector)
        app = self._app_data()
        if not app.has_key(slot):
            raise KeyNotFound(f"no key in the {slot.label} slot")
        return _key_info(app, slot)

    def delete_key(self, selector: str) -> KeyInfo:
        raise NotSupported("OpenPGP cards cannot delete a key; use init_token (factory reset)")

    def generate_key(
        self, key_type: KeyType, label: str = "sig", key_id: bytes | None = None
    ) -> KeyInfo:
        """A new RSA key pair in the slot named by ``label`` (or ``key_id`` 01/02/03).

        Needs the admin PIN (:meth:`login_admin`). Writes the OpenPGP fingerprint and
        creation time, so gpg and OpenSC see the key as complete.
        """
        slot = _slot(f"id:{key_id.hex()}" if key_id else label)
        if key_type is not KeyType.RSA2048:
            raise NotSupported(f"this driver generates rsa2048 only, not {key_type.value}")
        app = self._app_data()
        if app.attributes.get(slot) != od.AlgorithmAttributes.parse(_RSA2048_ATTRIBUTES):
            self._put_data(slot.attributes_tag, _RSA2048_ATTRIBUTES, "PUT DATA algorithm")
        template = self._generate(slot)
        created = int(time.time())
        der = od.rsa_public_key_der(template)
        self._put_data(_FINGERPRINT_TAG[slot], od.openpgp_fingerprint(der, created), "PUT DATA fp")
        self._put_data(_TIMESTAMP_TAG[slot], created.to_bytes(4, "big"), "PUT DATA time")
        return self.find_key(slot.label)

    def _generate(self, slot: KeySlot) -> bytes:
        cmd = CommandApdu(0x00, 0x47, 0x80, 0x00, bytes([slot.crt, 0x00]), le=self._le())
        for _ in range(_KEYGEN_RETRIES):
            data, sw = self._transceive(cmd)
            if sw == SW_OK:
                return data
            if sw != 0x6F00:
                if sw == 0x6982:
                    raise PinError("key generation needs the admin PIN: call login_admin", sw=sw)
                raise error_for_sw(sw, "GENERATE ASYMMETRIC KEY PAIR")
            time.sleep(0.2)  # 6F00: the emulator's background key pool is still empty
        raise CardError("GENERATE ASYMMETRIC KEY PAIR kept failing", sw=0x6F00)

    def public_key_der(self, selector: str) -> bytes:
        self.find_key(selector)  # KeyNotFound for an empty slot, not a card error
        slot = _slot(selector)
        cmd = CommandApdu(0x00, 0x47, 0x81, 0x00, bytes([slot.crt, 0x00]), le=self._le())
        return od.rsa_public_key_der(self._send(cmd, "read public key"))

    # -- signing -------------------------------------------------------------------------

    def sign(self, selector: str, data: bytes, mechanism: Mechanism | None = None) -> bytes:
        """PSO: COMPUTE DIGITAL SIGNATURE over a DigestInfo (the hash is computed here)."""
        mechanism = self._sign_mechanism(selector, mechanism)
        name = mechanism.hash_name or "sha256"
        block = od.digest_info(name, hashlib.new(name, data).digest())
        self._ready_to_sign()
        cmd = CommandApdu(0x00, 0x2A, 0x9E, 0x9A, block, le=self._le())
        result, sw = self._transceive(cmd)
        self._login.sign_ready = False
        if sw == 0x6982:
            raise PinError("signing needs the user PIN: call login first", sw=sw)
        if sw != SW_OK:
            raise error_for_sw(sw, "PSO: COMPUTE DIGITAL SIGNATURE")
        return result

    def _sign_mechanism(self, selector: str, mechanism: Mechanism | None) -> Mechanism:
        if _slot(selector) is not KeySlot.SIG:
            raise MechanismUnsupported("only the signature key (sig) signs on this driver")
        mechanism = mechanism or Mechanism.RSA_PKCS_SHA256
        if mechanism not in SIGN_MECHANISMS:
            raise MechanismUnsupported(f"{mechanism.value} is not offered by this driver")
        key = self.find_key(selector)
        if key.key_type is None or key.key_type.family != "rsa":
            raise MechanismUnsupported(f"{mechanism.value} needs an RSA key")
        return mechanism

    def _ready_to_sign(self) -> None:
        if self._login.sign_ready or self._login.pin is None:
            return  # not logged in: the card's 6982 says so
        if not self._pw_status().pw1_multiple_signatures:
            self._verify(PW1_SIGN, self._login.pin, "VERIFY PW1")
        self._login.sign_ready = True

    def verify(
        self, selector: str, data: bytes, signature: bytes, mechanism: Mechanism | None = None
    ) -> bool:
        """Verify on the host with the card's public key (the card has no verify command)."""
        mechanism = mechanism or Mechanism.RSA_PKCS_SHA256
        if mechanism not in SIGN_MECHANISMS:
            raise MechanismUnsupported(f"{mechanism.value} is not offered by this driver")
        key = serialization.load_der_public_key(self.public_key_der(selector))
        if not isinstance(key, rsa.RSAPublicKey):
            raise MechanismUnsupported(f"{mechanism.value} needs an RSA key")
        algorithm = _HASHES[mechanism.hash_name or "sha256"]()
        try:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        except InvalidSignature:
            return False
        return True

    # -- cardholder certificate (DO 7F21) ---------------------------------------------------

    def read_certificate(self) -> bytes | None:
        """The cardholder certificate (DER), or None when the DO is empty."""
        data = self._get_data(od.DO_CARDHOLDER_CERTIFICATE)
        return data or None

    def certificates(self) -> list[StoredCertificate]:
        """The cardholder certificate, bound to the signature key (id 01)."""
        der = self.read_certificate()
        return [StoredCertificate(label="sig", id="01", der=der, authority=False)] if der else []

    def delete_certificates(self, *, label: str | None = None, key_id: bytes | None = None) -> int:
        had = bool(self.certificates())
        if had:
            self.delete_certificate()
        return int(had)

    def import_certificate(self, der: bytes, *, label: str = "", key_id: bytes = b"", authority: bool = False) -> None:
        """Store a DER certificate in DO 7F21 (needs :meth:`login_admin`); the card keeps no CA certificates."""
        if authority:
            raise NotSupported("an OpenPGP card has one certificate slot, for the holder's certificate")
        try:
            x509.load_der_x509_certificate(der)
        except ValueError as exc:
            raise InvalidInput(f"not a DER X.509 certificate: {exc}") from exc
        self._put_data(od.DO_CARDHOLDER_CERTIFICATE, der, "PUT DATA certificate")

    def delete_certificate(self) -> None:
        self._put_data(od.DO_CARDHOLDER_CERTIFICATE, b"", "PUT DATA certificate")

    def close(self) -> None:
        """Forget the PIN, drop the card's verified PINs, disconnect.

        A card keeps PW1/PW3 verified after the reader connection closes, for whatever
        program talks to it next; sitoken leaves nothing verified behind. A card that is
        already gone has nothing to drop.
        """
        with contextlib.suppress(SitokenError):
            self.logout()
        self._login.forget()
        close = getattr(self.connection, "close", None)
        if close is not None:
            close()


def _pin_status(role: PinRole, tries: int) -> PinStatus:
    maximum = max(od.DEFAULT_TRIES, tries)
    return PinStatus(
        role=role, initialized=True, remaining=tries, maximum=maximum,
        count_low=0 < tries < maximum, final_try=tries == 1, locked=tries == 0,
    )


def _slot(selector: str) -> KeySlot:
    slot = od.SLOT_ALIASES.get(selector.strip().lower())
    if slot is None:
        raise KeyNotFound(f"no key slot {selector!r}: use sig, dec or aut (or id:01..03)")
    return slot


def _key_info(app: ApplicationData, slot: KeySlot) -> KeyInfo:
    attributes = app.attributes.get(slot)
    return KeyInfo(
        label=slot.label,
        id=f"{slot.number:02x}",
        key_type=attributes.key_type if attributes else None,
        has_private=True,
        has_public=True,
        extra={"fingerprint": app.fingerprints[slot.number - 1].hex()},
    )


def _name_for(label: str) -> bytes:
    try:
        name = label.encode("ascii")
    except UnicodeEncodeError as exc:
        raise InvalidInput("the card label (cardholder name) must be ASCII") from exc
    if len(name) > 39:
        raise InvalidInput("the card label (cardholder name) is at most 39 characters")
    return name
