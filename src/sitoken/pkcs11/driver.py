"""The PKCS#11 token driver: any module (SoftHSM, OpenSC, vendor) behind the Token interface."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import (
    FinalTryGuard,
    InvalidInput,
    KeyNotFound,
    MechanismUnsupported,
    NotSupported,
    PinIncorrect,
    PinLocked,
    TokenAbsent,
    TokenError,
    TokenNotFound,
)
from ..pin import SO_PIN_POLICY, Pin, PinPolicy, PinRole
from ..token import Capabilities, KeyInfo, KeyType, Mechanism, StoredCertificate, Token, TokenInfo
from . import certstore
from .constants import (
    CKA,
    CKO,
    CKR_DEVICE_REMOVED,
    CKR_OK,
    CKR_SLOT_ID_INVALID,
    CKR_TOKEN_NOT_PRESENT,
    CKR_USER_ALREADY_LOGGED_IN,
    CKR_USER_NOT_LOGGED_IN,
    CKU_SO,
    CKU_USER,
    TokenFlag,
    rv_name,
)
from .errors import error_for_rv
from .info import pin_status, token_info_from_raw
from .keys import KeyObject, describe_keys, generate, public_key_der, select_objects
from .mechanisms import CK_MECHANISMS, CkMechanism
from .module import Module, RawTokenInfo
from .profiles import VendorProfile, profile_for
from .quirks import quirks_for
from .session import Session
from .sm2_vendors import SM2_TOKEN_ID
from .uri import parse_uri

# C_Login/C_SetPIN never legitimately answer "not logged in"; OpenSC does when a card refuses
# VERIFY with 6982 instead of 63Cx (the emulated OpenPGP card): the PIN was tried and counted.
_PIN_REFUSED_AS_NOT_LOGGED_IN = frozenset({"C_Login", "C_SetPIN"})
# C_GetTokenInfo codes that mean the token (or its reader) went away. Anything else, such as
# SoftHSM's CKR_GENERAL_ERROR on a read-only store, is a failure of a token that is still there.
_TOKEN_GONE = frozenset({CKR_TOKEN_NOT_PRESENT, CKR_DEVICE_REMOVED, CKR_SLOT_ID_INVALID})


def select_token(module: Module, selector: str | None) -> RawTokenInfo:
    """One token by label, serial or ``pkcs11:`` URI; None picks the only initialised token."""
    infos = module.token_infos()
    if selector is None:
        matches = infos
    elif selector.startswith("pkcs11:"):
        uri = parse_uri(selector)
        matches = [i for i in infos if uri.matches_token(i.label, i.serial, i.manufacturer, i.model)]
    else:
        matches = [i for i in infos if selector in (i.label, i.serial)]
    if len(matches) == 1:
        return matches[0]
    what = "no token" if selector is None else f"no token matches {selector!r}"
    if matches:
        labels = ", ".join(f"{i.label} (serial {i.serial})" for i in matches)
        raise TokenNotFound(f"several tokens match; choose one with --token: {labels}")
    raise TokenNotFound(f"{what} in {module.path}")


#: CK_INFO.manufacturerID of SoftHSM, which keeps exactly one uninitialised token, in its last slot.
SOFTHSM_MANUFACTURER = "SoftHSM"


def _one_key(selector: str, objects: list[KeyObject]) -> KeyInfo:
    infos = describe_keys(objects)
    if len(infos) != 1:
        raise KeyNotFound(f"{selector!r} matches {len(infos)} keys; select by id:HEX")
    return infos[0]


def free_slot(module: Module) -> RawTokenInfo:
    """The first slot holding an uninitialised token (SoftHSM always keeps one).

    On SoftHSM the slots are read from the end: its one free token is the last, and a store
    that gains a token per holder would otherwise be read whole for every holder.
    """
    slots = module.slot_ids(token_present=True)
    if module.manufacturer == SOFTHSM_MANUFACTURER:
        slots.reverse()
    for info in module.each_token_info(include_uninitialized=True, slots=slots):
        if not info.flags & TokenFlag.TOKEN_INITIALIZED:
            return info
    raise TokenNotFound(f"no uninitialised token in {module.path}; pass --token to re-initialise one")


class Pkcs11Token(Token):
    """A token in a PKCS#11 module.

    Each thread gets its own session (the module is initialised with OS
    locking, so threads are safe); logging in once logs in every session,
    as PKCS#11 keeps the login state per application and token.
    """

    def __init__(self, module: Module, raw: RawTokenInfo, policy: PinPolicy | None = None) -> None:
        self.module = module
        self.slot_id = raw.slot_id
        self.label = raw.label
        self.serial = raw.serial
        self.policy = policy or PinPolicy()
        self._min_pin, self._max_pin = raw.min_pin_len, raw.max_pin_len
        self._local = threading.local()
        self._sessions: list[Session] = []
        self._lock = threading.Lock()
        self._logged_in = False
        self._mechanisms: frozenset[int] | None = None
        self._profile: VendorProfile | None = None

    @classmethod
    def open(cls, module: Module, selector: str | None = None, policy: PinPolicy | None = None) -> Pkcs11Token:
        return cls(module, select_token(module, selector), policy)

    def __repr__(self) -> str:
        return f"Pkcs11Token(label={self.label!r}, serial={self.serial!r}, module={self.module.path!r})"

    # -- information -------------------------------------------------------------

    def _raw(self) -> RawTokenInfo:
        rv, raw = self.module.token_info(self.slot_id)
        if rv in _TOKEN_GONE:
            raise TokenAbsent(f"token {self.label!r} is no longer present", rv=rv, function="C_GetTokenInfo")
        if rv != CKR_OK or raw is None:
            raise error_for_rv(rv, "C_GetTokenInfo")
        return raw

    def info(self) -> TokenInfo:
        return token_info_from_raw(self._raw())

    @property
    def profile(self) -> VendorProfile:
        """The vendor profile of this token's module (vendor numbers, what it cannot carry)."""
        if self._profile is None:
            self._profile = profile_for(self.module.manufacturer, self.module.path)
        return self._profile

    @property
    def capabilities(self) -> Capabilities:
        mechs = self._token_mechanisms()
        profile = self.profile
        key_types = tuple(
            k for k in KeyType if (gen := profile.keygen(k)) is not None and gen.mechanism in mechs
        )
        signing = []
        for m in Mechanism:
            ck = profile.mechanisms.get(m) or CK_MECHANISMS.get(m)
            if ck is not None and ck.ckm in mechs and profile.carries(ck.ckm):
                signing.append(m)
        raw = self._raw()
        quirks = quirks_for(raw.manufacturer, raw.model)
        return Capabilities(
            can_init_token=quirks.can_init_token,
            exact_retries=False,
            can_unblock=True,
            key_types=key_types,
            mechanisms=tuple(signing),
            keygen_needs_so_pin=quirks.keygen_needs_so_pin,
            # Where key generation needs the SO PIN (cards behind OpenSC), keys come from the card only.
            can_import_keys=not quirks.keygen_needs_so_pin,
        )

    def _token_mechanisms(self) -> frozenset[int]:
        if self._mechanisms is None:
            self._mechanisms = frozenset(self.module.mechanism_list(self.slot_id))
        return self._mechanisms

    # -- sessions ------------------------------------------------------------------

    def session(self) -> Session:
        """This thread's session on the token, opened on first use."""
        current: Session | None = getattr(self._local, "session", None)
        if current is None or current.closed:
            current = self.module.open_session(self.slot_id)
            self._local.session = current
            with self._lock:
                self._sessions.append(current)
        return current

    def open_session(self) -> Session:
        """A new session of the caller's own (the batch signer's workers); the caller closes it."""
        return self.module.open_session(self.slot_id)

    def close(self) -> None:
        """Log out and close every session this object opened; safe to call twice."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
            if self._logged_in and sessions:
                sessions[0].logout()
            self._logged_in = False
        for s in sessions:
            s.close()
        self._local = threading.local()

    @contextmanager
    def _pin_session(self) -> Iterator[Session]:
        """A short-lived R/W session for one PIN operation; nothing else may be open."""
        self.close()
        with self.module.open_session(self.slot_id) as session:
            yield session

    # -- PIN lifecycle -------------------------------------------------------------

    def _check_format(self, pin: Pin, role: PinRole) -> None:
        """Refuse a PIN the token would refuse anyway, before it can cost a retry."""
        low, high = self._min_pin or 1, self._max_pin or 255
        if not low <= len(pin) <= high:
            raise InvalidInput(f"the token accepts {role.value} PINs of {low}-{high} characters")

    def _guard(self, role: PinRole, force: bool) -> None:
        status = pin_status(self._raw().flags, role)
        who = "user PIN" if role is PinRole.USER else "SO PIN"
        if status.locked:
            raise PinLocked(f"the {who} is locked; an administrator reset is needed")
        if status.final_try and not force:
            raise FinalTryGuard(
                f"one more wrong {who} locks the token; nothing was sent (use --force to try anyway)"
            )

    def _wrong_pin(self, rv: int, function: str, role: PinRole) -> Exception:
        error = error_for_rv(rv, function)
        refused = rv == CKR_USER_NOT_LOGGED_IN and function in _PIN_REFUSED_AS_NOT_LOGGED_IN
        if isinstance(error, PinIncorrect) or refused:
            status = pin_status(self._raw().flags, role)
            hint = "one try left" if status.final_try else "check the PIN"
            if status.locked:
                return PinLocked("wrong PIN; the PIN is now locked", rv=rv, function=function)
            # PKCS#11 only says "final try" (CKF_*_PIN_FINAL_TRY), never a count: report what is known.
            return PinIncorrect(f"wrong PIN ({hint}; {rv_name(rv)})", rv=rv, function=function,
                                remaining=1 if status.final_try else None)
        return error

    def login(self, pin: Pin, *, force: bool = False) -> None:
        if self._logged_in:
            return
        self._check_format(pin, PinRole.USER)
        self._guard(PinRole.USER, force)
        rv = self.session().login(CKU_USER, pin.buffer())
        if rv not in (CKR_OK, CKR_USER_ALREADY_LOGGED_IN):
            raise self._wrong_pin(rv, "C_Login", PinRole.USER)
        self._logged_in = True

    def login_admin(self, so_pin: Pin, *, force: bool = False) -> None:
        """C_Login as SO on this object's sessions, for tokens whose key generation needs it."""
        if self._logged_in:
            raise InvalidInput("log out the user before logging in as the administrator")
        self._check_format(so_pin, PinRole.SO)
        self._guard(PinRole.SO, force)
        rv = self.session().login(CKU_SO, so_pin.buffer())
        if rv not in (CKR_OK, CKR_USER_ALREADY_LOGGED_IN):
            raise self._wrong_pin(rv, "C_Login", PinRole.SO)
        self._logged_in = True

    def logout(self) -> None:
        self.close()

    def init_token(self, so_pin: Pin, label: str, *, force: bool = False) -> None:
        if not label or len(label.encode("utf-8")) > 32:
            raise InvalidInput("a token label has 1-32 bytes")
        if not self.capabilities.can_init_token:
            raise NotSupported(f"token {self.label!r} cannot be initialised through its module (C_InitToken)")
        SO_PIN_POLICY.enforce(so_pin)
        self.close()
        before = set(self.module.slot_ids(token_present=True))
        self.module.init_token(self.slot_id, so_pin.buffer(), label)
        self._rebind(label, before)

    def _rebind(self, label: str, before: set[int]) -> None:
        # SoftHSM moves a freshly initialised token to a new slot id: find it again. Its own
        # slot and the slots that appeared with the call are read first (a store holding a
        # token per holder is not read whole), then every slot.
        slots = self.module.slot_ids(token_present=True)
        likely = [self.slot_id, *(s for s in slots if s not in before)]
        raw = self._labelled(label, likely) or self._labelled(label, slots)
        if raw is None:
            raise TokenNotFound(f"the token labelled {label!r} vanished after initialisation")
        self.slot_id, self.label, self.serial = raw.slot_id, raw.label, raw.serial
        self._min_pin, self._max_pin = raw.min_pin_len, raw.max_pin_len
        self._mechanisms = None

    def _labelled(self, label: str, slots: list[int]) -> RawTokenInfo | None:
        """The token labelled ``label`` in ``slots``: the one with this token's serial if any."""
        candidates = [i for i in self.module.each_token_info(slots=slots) if i.label == label]
        same = [i for i in candidates if i.serial == self.serial] or candidates
        return same[0] if same else None

    def _as_so(self, so_pin: Pin, force: bool, action: str, run: Any) -> None:
        self._check_format(so_pin, PinRole.SO)
        self._guard(PinRole.SO, force)
        with self._pin_session() as session:
            rv = session.login(CKU_SO, so_pin.buffer())
            if rv != CKR_OK:
                raise self._wrong_pin(rv, "C_Login", PinRole.SO)
            try:
                rv = run(session)
                if rv != CKR_OK:
                    raise error_for_rv(rv, action)
            finally:
                session.logout()

    def init_pin(self, so_pin: Pin, new_pin: Pin) -> None:
        self.policy.enforce(new_pin, avoid=[so_pin.text()])
        self._as_so(so_pin, False, "C_InitPIN", lambda s: s.init_pin(new_pin.buffer()))

    def reset_pin(self, so_pin: Pin, new_pin: Pin, *, force: bool = False) -> None:
        self.policy.enforce(new_pin, avoid=[so_pin.text()])
        self._as_so(so_pin, force, "C_InitPIN", lambda s: s.init_pin(new_pin.buffer()))

    def change_so_pin(self, old_so_pin: Pin, new_so_pin: Pin, *, force: bool = False) -> None:
        SO_PIN_POLICY.enforce(new_so_pin)
        self._as_so(
            old_so_pin, force, "C_SetPIN",
            lambda s: s.set_pin(old_so_pin.buffer(), new_so_pin.buffer()),
        )

    def change_pin(self, old_pin: Pin, new_pin: Pin, *, force: bool = False) -> None:
        self.policy.enforce(new_pin)
        if new_pin == old_pin:
            raise InvalidInput("the new PIN must differ from the current one")
        self._check_format(old_pin, PinRole.USER)
        self._guard(PinRole.USER, force)
        # C_SetPIN in a public R/W session checks the old PIN itself: one attempt, not two.
        with self._pin_session() as session:
            rv = session.set_pin(old_pin.buffer(), new_pin.buffer())
            if rv != CKR_OK:
                raise self._wrong_pin(rv, "C_SetPIN", PinRole.USER)

    # -- keys ------------------------------------------------------------------------

    def generate_key(self, key_type: KeyType, label: str, key_id: bytes | None = None) -> KeyInfo:
        if not label:
            raise InvalidInput("a key needs a label")
        session = self.session()
        if select_objects(session, label=label):
            raise InvalidInput(f"a key labelled {label!r} already exists on the token")
        keygen = self.profile.keygen(key_type, refuse=True)
        if keygen is None or key_type not in self.capabilities.key_types:
            raise MechanismUnsupported(f"the token cannot generate {key_type.value} keys")
        key_id = key_id if key_id is not None else os.urandom(8)
        generate(session, key_type, keygen, label, key_id)
        return self.find_key(label)

    def import_key_pair(self, pkcs8_der: bytes, label: str, key_id: bytes | None = None) -> KeyInfo:
        if not self.capabilities.can_import_keys:
            return super().import_key_pair(pkcs8_der, label, key_id)
        if not label:
            raise InvalidInput("a key needs a label")
        session = self.session()
        if select_objects(session, label=label):
            raise InvalidInput(f"a key labelled {label!r} already exists on the token")
        from .keyimport import import_key_pair

        import_key_pair(session, pkcs8_der, label, key_id if key_id is not None else os.urandom(8))
        return self.find_key(label)

    def keys(self) -> list[KeyInfo]:
        return describe_keys(select_objects(self.session()))

    def _objects(self, selector: str) -> list[KeyObject]:
        if selector.startswith("id:"):
            try:
                key_id = bytes.fromhex(selector[3:])
            except ValueError:
                raise InvalidInput(f"{selector!r}: an id is written id:HEX") from None
            found = select_objects(self.session(), key_id=key_id)
        else:
            found = select_objects(self.session(), label=selector)
        if not found:
            raise KeyNotFound(f"no key {selector!r} on token {self.label!r}")
        return found

    def find_key(self, selector: str) -> KeyInfo:
        return _one_key(selector, self._objects(selector))

    def delete_key(self, selector: str) -> KeyInfo:
        info = self.find_key(selector)
        session = self.session()
        for obj in self._objects(selector):
            session.destroy(obj.handle)
        return info

    def public_key_der(self, selector: str) -> bytes:
        return public_key_der(self.session(), self._objects(selector))

    def _key(self, selector: str, object_class: int, objects: list[KeyObject] | None = None) -> int:
        for obj in self._objects(selector) if objects is None else objects:
            if obj.object_class == object_class:
                return obj.handle
        kind = "private" if object_class == CKO.PRIVATE_KEY else "public"
        raise KeyNotFound(f"key {selector!r} has no {kind} half on this token")

    def mechanism_for(self, key_type: KeyType | None, mechanism: Mechanism | None, what: str) -> CkMechanism:
        """The PKCS#11 form of ``mechanism`` (default: the key type's) for a key of ``key_type``.

        Refused before any call to the token when it does not fit the key, the token does not
        offer it, or the module cannot carry it (its vendor profile says so).
        """
        if mechanism is None:
            if key_type is None:
                raise MechanismUnsupported(f"key {what!r} has a type sitoken cannot sign with")
            mechanism = key_type.default_mechanism
        if key_type is not None and key_type.family != mechanism.family:
            raise MechanismUnsupported(f"{mechanism.value} does not fit a {key_type.value} key")
        ck = self.profile.mechanism(mechanism)
        if mechanism is Mechanism.SM2_SM3 and self.sm2_id not in (None, SM2_TOKEN_ID):
            # The vendors' SM2-with-SM3 mechanisms take no ID: their Z binds the default one.
            raise MechanismUnsupported("this module's SM2 mechanism computes Z with the default ID only")
        if ck.ckm not in self._token_mechanisms():
            raise MechanismUnsupported(f"the token does not offer mechanism 0x{ck.ckm:X} for {mechanism.value}")
        return ck

    def _mechanism(self, selector: str, mechanism: Mechanism | None,
                   objects: list[KeyObject]) -> tuple[KeyInfo, CkMechanism]:
        info = _one_key(selector, objects)
        return info, self.mechanism_for(info.key_type, mechanism, selector)

    def sign(self, selector: str, data: bytes, mechanism: Mechanism | None = None) -> bytes:
        return self._sign(selector, data, mechanism, prehashed=False)

    def sign_digest(self, selector: str, digest: bytes, mechanism: Mechanism | None = None) -> bytes:
        return self._sign(selector, digest, mechanism, prehashed=True)

    def _sign(self, selector: str, data: bytes, mechanism: Mechanism | None, *, prehashed: bool) -> bytes:
        # One search for the key's objects serves the checks and the handle (SoftHSM reads
        # every object's file for each search).
        objects = self._objects(selector)
        _, ck = self._mechanism(selector, mechanism, objects)
        key = self._key(selector, CKO.PRIVATE_KEY, objects)
        return ck.finish(self.session().sign(ck.spec, key, ck.prepare(data, prehashed=prehashed)))

    def verify(
        self, selector: str, data: bytes, signature: bytes, mechanism: Mechanism | None = None
    ) -> bool:
        objects = self._objects(selector)
        info, ck = self._mechanism(selector, mechanism, objects)
        key = self._key(selector, CKO.PUBLIC_KEY, objects)
        try:
            token_sig = ck.token_signature(signature, info.key_type)
        except InvalidInput:
            return False
        return self.session().verify(ck.spec, key, ck.prepare(data), token_sig)

    # -- certificates ------------------------------------------------------------

    def import_certificate(self, der: bytes, *, label: str = "", key_id: bytes = b"", authority: bool = False) -> None:
        """Store an X.509 certificate; a holder's certificate shares its key pair's CKA_ID."""
        certstore.store(self.session(), der, label=label, key_id=key_id, authority=authority)

    def certificates(self) -> list[StoredCertificate]:
        session = self.session()
        return [certstore.describe(session, handle) for handle in certstore.find(session)]

    def delete_certificates(self, *, label: str | None = None, key_id: bytes | None = None) -> int:
        """Delete matching certificate objects; returns how many went."""
        session = self.session()
        found = certstore.find(session, label=label, key_id=key_id)
        certstore.destroy(session, found)
        return len(found)

    def remove_incomplete_objects(self) -> int:
        """Delete key and certificate objects a killed process left half-made.

        SoftHSM writes a new object's attributes one by one, so a SIGKILL inside
        C_CreateObject or C_GenerateKeyPair can leave a certificate without a value, or a
        key without id and label: nothing can select it, yet it sits on the token.
        """
        session = self.session()
        removed = 0
        for object_class in (CKO.CERTIFICATE, CKO.PRIVATE_KEY, CKO.PUBLIC_KEY):
            for handle in session.find({CKA.CLASS: object_class}):
                if _incomplete(session, handle, object_class):
                    session.destroy(handle)
                    removed += 1
        return removed

    def private_key_handle(self, selector: str) -> int:
        """The object handle of a private key, for the batch signer."""
        return self._key(selector, CKO.PRIVATE_KEY)


def _incomplete(session: Session, handle: int, object_class: int) -> bool:
    try:
        if object_class == CKO.CERTIFICATE:
            return not session.attribute(handle, CKA.VALUE)
        attrs = session.attributes(handle, [CKA.ID, CKA.LABEL])
        return not attrs[CKA.ID] and not attrs[CKA.LABEL]
    except TokenError:
        return True
