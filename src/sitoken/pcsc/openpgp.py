"""The OpenPGP card application as a sitoken Token: PINs, RSA keys, signing, certificate."""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..algorithms import hash_algorithm, host_input
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
from ..token import (
    Capabilities,
    KeyInfo,
    KeyType,
    Mechanism,
    MisplacedCertificate,
    StoredCertificate,
    Token,
    TokenInfo,
)
from . import openpgp_data as od
from . import tlv
from .apdu import SW_OK, ApduSession, CommandApdu, Connection, error_for_sw, pin_error
from .openpgp_cache import CardCache
from .openpgp_data import PW1_SIGN, PW3, ApplicationData, KeySlot
from .tlv import MalformedResponse

T = TypeVar("T")

FACTORY_PW1 = b"123456"
FACTORY_PW3 = b"12345678"
#: The admin PIN gets the card's 8-character minimum on top of sitoken's SO policy.
OPENPGP_SO_POLICY = PinPolicy(
    min_length=od.PW3_MIN_LENGTH, max_length=SO_PIN_POLICY.max_length,
    require_letter=False, require_digit=False,
)
SIGN_MECHANISMS = (Mechanism.RSA_PKCS_SHA256, Mechanism.RSA_PKCS_SHA384)
_RSA2048_ATTRIBUTES = bytes.fromhex("010800002000")  # RSA, 2048-bit n, 32-bit e, standard format
_FINGERPRINT_TAG = {KeySlot.SIG: 0xC7, KeySlot.DEC: 0xC8, KeySlot.AUT: 0xC9}
_TIMESTAMP_TAG = {KeySlot.SIG: 0xCE, KeySlot.DEC: 0xCF, KeySlot.AUT: 0xD0}
_PIN_FAILED = frozenset({0x6982, 0x6983})
_KEYGEN_RETRIES = 25  # x 0.2 s: the emulator generates in the background and may lag


@dataclass
class _LoginState:
    """What this session knows about the card's security state (cleared on logout/removal)."""

    # The PW references (81, 82, 83) the card holds verified now: only these are logged out.
    verified: set[int] = field(default_factory=set)
    # Cards in "PW1 valid for one signature" mode forget PW1 after each signature; the
    # PIN is kept (wipeable, never printed) to re-verify, as OpenSC and gpg-agent do.
    pin: Pin | None = field(default=None, repr=False)
    admin_pin: Pin | None = field(default=None, repr=False)  # which PIN verified PW3 (83)

    def forget(self) -> None:
        for pin in (self.pin, self.admin_pin):
            if pin is not None:
                pin.wipe()
        self.pin = self.admin_pin = None
        self.verified.clear()


@contextmanager
def _joined(first: Pin, second: Pin) -> Iterator[bytearray]:
    """Old and new PIN side by side (CHANGE REFERENCE DATA) in a buffer wiped after the command."""
    data = first.buffer() + second.buffer()
    try:
        yield data
    finally:
        data[:] = bytes(len(data))


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
        self._cache = CardCache()
        self._session.extended = _announces_extended_length(connection)
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
            self._cache.clear()  # ... and may come back as another card
            raise

    def _send(self, cmd: CommandApdu, action: str) -> bytes:
        return self._guarded(lambda: self._session.send(cmd, action))

    def _transceive(self, cmd: CommandApdu) -> tuple[bytes, int]:
        return self._guarded(lambda: self._session.transceive(cmd))

    def _le(self) -> int:
        """Le for an answer of unknown size: as much as the card may send.

        Extended Le 0000 means 65536 in ISO 7816-4, but some cards (the bed's emulator)
        read a case-2 Le of zero as "nothing" and answer 61xx, costing a GET RESPONSE;
        FFFF asks for as much and is read the same way everywhere.
        """
        return 65535 if self._session.extended else 256

    def _select(self) -> None:
        self._cache.occurrence = None  # SELECT resets the DO occurrence to the first
        cmd = CommandApdu(0x00, 0xA4, 0x04, 0x00, od.OPENPGP_AID)
        _, sw = self._transceive(cmd)
        if sw != SW_OK:
            where = self.reader or "this card"
            raise TokenNotFound(f"no OpenPGP application on {where} (SW {sw:04X})", sw=sw)

    def _get_data(self, tag: int, size: int | None = None) -> bytes:
        cmd = CommandApdu(0x00, 0xCA, tag >> 8, tag & 0xFF, le=size or self._le())
        return self._send(cmd, f"GET DATA {tag:X}")

    def _put_data(self, tag: int, value: bytes, action: str) -> None:
        self._cache.app = None  # every DO sitoken writes (name, attributes, fp, time) is in 6E or 65
        self._cache.name = None
        self._send(CommandApdu(0x00, 0xDA, tag >> 8, tag & 0xFF, value), action)

    def _still_present(self) -> None:
        """Before answering from the cache: is it still the card this session read?

        pcscd knows when the card was pulled or reset (another card may sit there now);
        asking it costs no APDU.
        """
        check_present = getattr(self.connection, "check_present", None)
        if check_present is not None:
            self._guarded(check_present)

    def _app_data(self) -> ApplicationData:
        if self._cache.app is None:
            app = ApplicationData.parse(self._get_data(od.DO_APPLICATION_RELATED))
            self._cache.app = app
            self._cache.pw_read(app.pw_status)
        else:
            self._still_present()
        return self._cache.app

    def _pw_status(self, reference: int | None = None) -> od.PwStatus:
        """The PW status; read again when the counter asked for (None: any) may have changed."""
        stale = self._cache.pw_stale
        wanted = _pw_counter(reference) if reference is not None else None
        if self._cache.pw is None or (stale and wanted is None) or wanted in stale:
            if self._cache.app is None:
                return self._app_data().pw_status  # one read gives both
            self._cache.pw_read(od.PwStatus.parse(self._get_data(od.DO_PW_STATUS, od.PW_STATUS_SIZE)))
        else:
            self._still_present()
        assert self._cache.pw is not None  # read just now, or kept
        return self._cache.pw

    # -- discovery ---------------------------------------------------------------------

    def _cardholder_name(self) -> bytes:
        if self._cache.name is None:
            self._cache.name = tlv.find(self._get_data(od.DO_CARDHOLDER_RELATED), od.DO_NAME) or b""
        return self._cache.name

    def info(self) -> TokenInfo:
        app = self._app_data()
        pw = self._pw_status()
        label = self._cardholder_name().decode("latin-1").replace("<<", " ").strip()
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
            pin=_pin_status(PinRole.USER, pw.pw1_tries),
            so_pin=_pin_status(PinRole.SO, pw.pw3_tries),
            flags=tuple(flags),
            slot=self.reader,
        )

    def serials(self) -> tuple[str, ...]:
        """Serials the card answers to: the AID serial, and OpenSC's manufacturer + serial form."""
        aid = self._app_data().aid
        return aid.serial_hex.lower(), f"{aid.manufacturer_id:04x}{aid.serial_hex}".lower()

    def pin_status(self, role: PinRole = PinRole.USER) -> PinStatus:
        status = self._pw_status(PW3 if role is PinRole.SO else PW1_SIGN)
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
        tries = self._pw_status(reference).tries(reference)
        what = "admin PIN" if reference == PW3 else "PIN"
        if tries == 0:
            raise PinLocked(f"the {what} is blocked; nothing was sent to the card")
        if tries == 1 and not force:
            raise FinalTryGuard(f"one try left on the {what}: refusing without force")

    def _pin_command(self, cmd: CommandApdu, reference: int, action: str) -> None:
        """Send a VERIFY / CHANGE REFERENCE DATA; a refusal becomes PinIncorrect or PinLocked."""
        counter = _pw_counter(reference)
        _, sw = self._transceive(cmd)
        if sw == SW_OK:
            self._cache.pin_succeeded(counter)
            return
        self._cache.pin_failed(counter)
        if sw in _PIN_FAILED or sw & 0xFFF0 == 0x63C0:
            # Read the counter back: some cards (the emulator) answer 6982, not 63Cx.
            raise pin_error(action, self._pw_status(reference).tries(reference), sw)
        raise error_for_sw(sw, action)

    def _verify(self, reference: int, pin: Pin, action: str) -> None:
        # The Pin's own buffer: the PIN is never copied to bytes on its way to the card.
        cmd = CommandApdu(0x00, 0x20, 0x00, reference, pin.buffer())
        self._login.verified.discard(reference)
        self._pin_command(cmd, reference, action)
        self._login.verified.add(reference)

    def login(self, pin: Pin, *, force: bool = False) -> None:
        """Check the user PIN with VERIFY in the signing mode (81), the one sitoken's operations need.

        PW1 in mode 82 (decipher, authenticate, private DOs) is verified only when an
        operation needs it; the PIN is kept to verify then, and to re-verify 81 on cards
        that allow one signature per VERIFY.
        """
        self._check_tries(PW1_SIGN, force)
        self._verify(PW1_SIGN, pin, "VERIFY PW1")
        if self._login.pin is not None:
            self._login.pin.wipe()
        self._login.pin = Pin(pin.buffer())

    def login_admin(self, so_pin: Pin, *, force: bool = False) -> None:
        """Verify the admin PIN (PW3): needed for key generation and certificate import.

        Sent once per session: PW3 stays verified on the card until logout, so a second
        call with the PIN this session verified costs no APDU (another PIN is sent).
        """
        admin = self._login.admin_pin
        if PW3 in self._login.verified and admin is not None and hmac.compare_digest(admin.buffer(), so_pin.buffer()):
            return
        self._check_tries(PW3, force)
        self._verify(PW3, so_pin, "VERIFY PW3")
        if admin is not None:
            admin.wipe()
        self._login.admin_pin = Pin(so_pin.buffer())

    def logout(self) -> None:
        """Reset the access status of the PINs this session verified, and only those."""
        verified = sorted(self._login.verified)
        self._login.forget()
        for reference in verified:
            # VERIFY with P1=FF resets the access status (spec v3); older cards say 6A86.
            self._transceive(CommandApdu(0x00, 0x20, 0xFF, reference))

    def change_pin(self, old_pin: Pin, new_pin: Pin, *, force: bool = False) -> None:
        self.policy.enforce(new_pin)
        self._check_tries(PW1_SIGN, force)
        with _joined(old_pin, new_pin) as data:
            self._pin_command(CommandApdu(0x00, 0x24, 0x00, PW1_SIGN, data), PW1_SIGN, "CHANGE REFERENCE DATA PW1")
        if self._login.pin is not None:
            self._login.pin.wipe()
            self._login.pin = Pin(new_pin.buffer())

    def change_so_pin(self, old_so_pin: Pin, new_so_pin: Pin, *, force: bool = False) -> None:
        self.so_policy.enforce(new_so_pin)
        self._check_tries(PW3, force)
        with _joined(old_so_pin, new_so_pin) as data:
            self._pin_command(CommandApdu(0x00, 0x24, 0x00, PW3, data), PW3, "CHANGE REFERENCE DATA PW3")

    def reset_pin(self, so_pin: Pin, new_pin: Pin, *, force: bool = False) -> None:
        """Unblock: VERIFY PW3, then RESET RETRY COUNTER sets PW1 and its full counter."""
        self.policy.enforce(new_pin)
        self.login_admin(so_pin, force=force)
        self._send(CommandApdu(0x00, 0x2C, 0x02, PW1_SIGN, new_pin.buffer()),
                   "RESET RETRY COUNTER")
        self._cache.pin_succeeded(PW1_SIGN)

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
        if so_pin.buffer() != FACTORY_PW3:
            self.so_policy.enforce(so_pin)  # checked before the card is touched
        if not (force and self._pw_status(PW3).pw3_tries == 0):
            self.login_admin(so_pin, force=force)
        self._send(CommandApdu(0x00, 0xE6, 0x00, 0x00), "TERMINATE DF")
        self._send(CommandApdu(0x00, 0x44, 0x00, 0x00), "ACTIVATE FILE")
        self._login.forget()
        self._cache.clear()
        self._select()
        with Pin(FACTORY_PW3) as factory:
            self._verify(PW3, factory, "VERIFY PW3 (factory)")
            self._put_data(od.DO_NAME, name, "PUT DATA name")
            self._cache.name = name  # what the card holds now: no need to read DO 65 back
            if so_pin.buffer() != FACTORY_PW3:
                with _joined(factory, so_pin) as data:
                    self._pin_command(CommandApdu(0x00, 0x24, 0x00, PW3, data), PW3, "CHANGE REFERENCE DATA PW3")

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
        self._cache.certificates.pop(slot, None)  # the old key's certificate no longer matches
        fingerprint = od.openpgp_fingerprint(der, created)
        app = self._app_data()
        self._put_data(_FINGERPRINT_TAG[slot], fingerprint, "PUT DATA fp")
        self._put_data(_TIMESTAMP_TAG[slot], created.to_bytes(4, "big"), "PUT DATA time")
        # DO 6E as the card holds it now: only this slot's fingerprint changed (C1-C3 were set above).
        self._cache.app = dataclasses.replace(app, fingerprints=_with_fingerprint(app, slot, fingerprint))
        self._cache.public_keys[slot] = der  # the card just sent it
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
        if slot not in self._cache.public_keys:
            cmd = CommandApdu(0x00, 0x47, 0x81, 0x00, bytes([slot.crt, 0x00]), le=self._le())
            self._cache.public_keys[slot] = od.rsa_public_key_der(self._send(cmd, "read public key"))
        return self._cache.public_keys[slot]

    # -- signing -------------------------------------------------------------------------

    def sign(self, selector: str, data: bytes, mechanism: Mechanism | None = None) -> bytes:
        """PSO: COMPUTE DIGITAL SIGNATURE over a DigestInfo (the hash is computed here)."""
        mechanism = self._sign_mechanism(selector, mechanism)
        block = host_input(mechanism, data)  # a DigestInfo: SIGN_MECHANISMS are PKCS#1 v1.5
        self._ready_to_sign()
        cmd = CommandApdu(0x00, 0x2A, 0x9E, 0x9A, block, le=self._signature_size())
        result, sw = self._transceive(cmd)
        if sw == SW_OK and not self._app_data().pw_status.pw1_multiple_signatures:
            self._login.verified.discard(PW1_SIGN)  # spent on this signature
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
        if PW1_SIGN in self._login.verified or self._login.pin is None:
            return  # verified, or not logged in: the card's 6982 says so
        self._verify(PW1_SIGN, self._login.pin, "VERIFY PW1")

    def _signature_size(self) -> int:
        """Le for PSO:CDS: an RSA signature is exactly as long as the modulus."""
        attributes = self._app_data().attributes.get(KeySlot.SIG)
        bits = attributes.rsa_bits if attributes else None
        return (bits + 7) // 8 if bits else self._le()

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
        algorithm = hash_algorithm(mechanism.hash_name or "sha256")
        try:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        except InvalidSignature:
            return False
        return True

    # -- cardholder certificates (DO 7F21, one occurrence per key on version 3 cards) ------

    def _select_certificate(self, slot: KeySlot) -> None:
        """SELECT DATA: point GET/PUT DATA 7F21 at the certificate of ``slot``'s key.

        A version 3 card keeps one DO 7F21 per key (occurrences 0, 1, 2 for the AUT, DEC
        and SIG keys) and without SELECT DATA reads and writes the first, the
        authentication key's. Version 2 cards have a single certificate and no SELECT DATA.
        """
        if self._app_data().aid.version[0] < 3:
            return
        occurrence = od.CERTIFICATE_OCCURRENCE[slot]
        if self._cache.occurrence == occurrence:
            return  # still selected: only SELECT DATA, SELECT and a reset change it
        cmd = CommandApdu(0x00, 0xA5, occurrence, 0x04, od.SELECT_CERTIFICATE)
        self._send(cmd, f"SELECT DATA 7F21 occurrence {occurrence}")
        self._cache.occurrence = occurrence

    def read_certificate(self, selector: str = "sig") -> bytes | None:
        """The certificate (DER) of the key in slot ``selector``, or None when its DO is empty."""
        slot = _slot(selector)
        if slot not in self._cache.certificates:
            self._select_certificate(slot)
            self._cache.certificates[slot] = self._get_data(od.DO_CARDHOLDER_CERTIFICATE)
        return self._cache.certificates[slot] or None

    def certificates(self) -> list[StoredCertificate]:
        """The holder's certificate, the one of the signature key (id 01)."""
        der = self.read_certificate("sig")
        return [StoredCertificate(label="sig", id="01", der=der, authority=False)] if der else []

    def delete_certificates(self, *, label: str | None = None, key_id: bytes | None = None) -> int:
        slot = _certificate_slot(label, key_id)
        had = self.read_certificate(slot.label) is not None
        if had:
            self._write_certificate(slot, b"")
        return int(had)

    def import_certificate(self, der: bytes, *, label: str = "", key_id: bytes = b"", authority: bool = False) -> None:
        """Store a DER certificate for the key named by ``key_id`` or ``label`` (default: sig).

        Needs :meth:`login_admin`. The card keeps no CA certificates.
        """
        if authority:
            raise NotSupported("an OpenPGP card keeps the holder's certificates only, no CA certificate")
        try:
            x509.load_der_x509_certificate(der)
        except ValueError as exc:
            raise InvalidInput(f"not a DER X.509 certificate: {exc}") from exc
        self._write_certificate(_certificate_slot(label, key_id), der)

    def misplaced_certificates(self) -> list[MisplacedCertificate]:
        """The holder's certificate in the AUT key's occurrence (0), where sitoken before SELECT DATA wrote it.

        Taken as misplaced only where nothing else can be meant: a version 3 card, a signature
        key, nothing in its occurrence (2), and in occurrence 0 a certificate whose public key
        is the signature key's. GnuPG and OpenSC read occurrence 0 as the authentication key's.
        """
        der = self._misplaced_holder_certificate()
        return [MisplacedCertificate(der, KeySlot.AUT.label, KeySlot.SIG.label)] if der else []

    def _misplaced_holder_certificate(self) -> bytes | None:
        app = self._app_data()
        if app.aid.version[0] < 3 or not app.has_key(KeySlot.SIG) or self.read_certificate("sig") is not None:
            return None
        der = self.read_certificate("aut")
        return der if der is not None and _carries_key(der, self.public_key_der("sig")) else None

    def move_misplaced_certificates(self) -> list[MisplacedCertificate]:
        """Write the misplaced certificate to the signature key's occurrence, then empty occurrence 0.

        Needs :meth:`login_admin`. In that order, so a card pulled in between keeps a copy.
        """
        misplaced = self.misplaced_certificates()
        for cert in misplaced:
            self._write_certificate(KeySlot.SIG, cert.der)
            self._write_certificate(KeySlot.AUT, b"")
        return misplaced

    def delete_certificate(self, selector: str = "sig") -> None:
        self._write_certificate(_slot(selector), b"")

    def _write_certificate(self, slot: KeySlot, der: bytes) -> None:
        self._cache.certificates.pop(slot, None)
        self._select_certificate(slot)
        tag = od.DO_CARDHOLDER_CERTIFICATE
        self._send(CommandApdu(0x00, 0xDA, tag >> 8, tag & 0xFF, der), "PUT DATA certificate")
        self._cache.certificates[slot] = der

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


def _with_fingerprint(app: ApplicationData, slot: KeySlot, fingerprint: bytes) -> tuple[bytes, bytes, bytes]:
    fps = list(app.fingerprints)
    fps[slot.number - 1] = fingerprint
    return fps[0], fps[1], fps[2]


def _carries_key(der: bytes, spki: bytes) -> bool:
    """Does the certificate ``der`` carry the public key ``spki``? False for what does not parse."""
    try:
        key = x509.load_der_x509_certificate(der).public_key()
    except ValueError:
        return False
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == spki


def _pw_counter(reference: int) -> int:
    """PW1 has one counter for both its modes (81 and 82)."""
    return PW1_SIGN if reference == od.PW1_OTHER else reference


def _announces_extended_length(connection: Connection) -> bool:
    """Extended length from the ATR, so the first GET DATA 6E already asks for all of it."""
    atr = getattr(connection, "atr", None)  # a PC/SC connection has one; canned bytes may not
    if not isinstance(atr, bytes | bytearray):
        return False
    try:
        return od.extended_length_in_atr(bytes(atr))
    except MalformedResponse:
        return False  # DO 6E decides, one read later


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


def _certificate_slot(label: str | None, key_id: bytes | None) -> KeySlot:
    """The key slot a certificate belongs to: by key id (01-03), else by slot label; default sig."""
    if key_id:
        return _slot(f"id:{key_id.hex()}")
    return od.SLOT_ALIASES.get((label or "").strip().lower(), KeySlot.SIG)


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
