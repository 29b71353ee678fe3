"""The counter workflow: one applicant, from validated data to a working certificate on a token.

Steps (each one journal transaction; see ``journal.STEPS``): token identified and
initialised with the SO PIN → the holder's user PIN set → key pair generated → request made
from the profile → issuer → certificate and chain installed → CMS sign/verify round trip → done.
A rerun resumes an unfinished enrolment where it stopped and reconciles the one step that may
have half-happened, using the intent written before it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone

from ..certs import build_csr, cert_info, load_certificates, to_pem
from ..certs.dual import EncryptionDelivery, check_encryption_delivery
from ..certs.ontoken import TokenSigner, install_certificates
from ..discovery import DeviceKey, load_module, open_free_token, open_token, skf_selected, tokens_are_fixed
from ..errors import (
    InvalidInput,
    JournalError,
    NotSupported,
    SitokenError,
    TokenAbsent,
    TokenNotFound,
)
from ..pin import Pin, PinPolicy
from ..signing.cms import sign_cms, verify_cms
from ..token import KeyType, Token
from .applicant import ValidatedApplicant, applicant_from_dict, validate
from .audit import AuditLog, TokenRef
from .claims import holder_resource, token_resource
from .conflicts import ApplicantConflict, applicant_record, journal_conflict, subject_key
from .dualcerts import (
    decrypt_round_trip,
    delete_certificates_of,
    encryption_key,
    handed_back,
    import_envelope,
    require_signature_key,
)
from .hall import HeldElsewhere
from .holder_pins import HolderPinSource, holder_context
from .issuers import Issuer, request_matches, split_issued
from .journal import Enrolment, Journal, mask
from .profiles import CertProfile, ProfileSet, load_profiles, template_fields

__all__ = ["CRASH_ENV", "STOP_ENV", "Counter", "ProvisionResult", "applicant_record", "subject_key"]

#: Test hook, inert unless set: SIGKILL this process at the N-th hook point (see docs/integrator-guide.md).
CRASH_ENV = "SITOKEN_TEST_CRASH_AT"
#: Test hook, inert unless set: SIGSTOP this process at the N-th hook point (it goes on after SIGCONT).
STOP_ENV = "SITOKEN_TEST_STOP_AT"
#: The audit action that covers a whole enrolment, by its purpose.
ACTION = {"issue": "provision", "renew": "renew", "reissue": "reissue"}
#: What the workflow does next from each state, in the clerk's words.
STEP_TEXT = {
    "validated": "initialising the token with the SO PIN", "token-ready": "setting the holder's PIN",
    "pin-set": "generating the key pair on the token", "key-ready": "making the certificate request",
    "csr-ready": "asking the issuer for the certificate", "issued": "installing the certificate and chain",
    "installed": "signing and verifying a test document (CMS)", "verified": "recording the result",
}


@dataclass(frozen=True)
class ProvisionResult:
    """Where one holder's enrolment stands after a workflow call; ``to_dict`` fields are stable."""

    enrolment: int
    subject: str  # masked ID number or credit code
    kind: str
    purpose: str
    state: str
    token_label: str | None
    token_serial: str | None
    key_label: str | None
    key_id: str | None
    certificate_serial: str | None
    not_after: str | None
    pin_generated: bool
    pin_must_change: bool
    handoff: str | None
    already_done: bool = False
    notes: tuple[str, ...] = ()
    # Dual SM2 certificates: the KMC's encryption certificate and its escrow reference (None otherwise).
    encryption_certificate_serial: str | None = None
    encryption_not_after: str | None = None
    escrow_ref: str | None = None

    def to_dict(self) -> dict[str, object]:
        out = dataclasses.asdict(self)
        out["notes"] = list(self.notes)
        return out


def purge_incomplete_objects(token: Token) -> int:
    """Delete objects a killed process left half-made on the holder's token; returns how many."""
    return token.remove_incomplete_objects()


def _public_key_hash(token: Token, key_id: str) -> str | None:
    """SHA-256 of the public key with this id on the token, None when there is none."""
    if not any(k.id == key_id for k in token.keys()):
        return None
    return hashlib.sha256(token.public_key_der(f"id:{key_id}")).hexdigest()


class CrashHook:
    """Kills (``SITOKEN_TEST_CRASH_AT=N``) or stops (``SITOKEN_TEST_STOP_AT=N``) the process at the
    N-th hook point, or at the hook point named (``=kmc:after``); does nothing otherwise."""

    def __init__(self) -> None:
        # N: the N-th hook point; a name (``kmc:after``): the first hook point of that name.
        self.plan = {sig: int(value) if value.isdigit() else value
                     for sig, name in ((signal.SIGKILL, CRASH_ENV), (signal.SIGSTOP, STOP_ENV))
                     if (value := os.environ.get(name, ""))}
        self.count = 0

    def __call__(self, point: str) -> None:
        if not self.plan:
            return
        self.count += 1
        for sig, at in self.plan.items():
            if at in (self.count, point):
                os.kill(os.getpid(), sig)


class Counter:
    """A service counter: its journal, audit log, issuer, profiles, SO PIN and holder PIN source."""

    def __init__(
        self, journal: Journal, audit: AuditLog, issuer: Issuer, *, holder_pins: HolderPinSource,
        so_pin: Pin | None = None, profiles: ProfileSet | None = None, module: str | None = None,
        policy: PinPolicy | None = None, on: date | None = None, token: str | None = None,
        progress: Callable[[str], None] | None = None, device_key: DeviceKey | None = None,
        profile_choice: Mapping[str, str] | None = None,
    ) -> None:
        """``device_key``: an SKF device's authentication key (to initialise a USB-Key);
        ``profile_choice``: the profile name to use for each kind of applicant (``--profile``)."""
        self.journal, self.audit, self.issuer = journal, audit, issuer
        self.holder_pins, self.so_pin = holder_pins, so_pin
        self.profiles = profiles or load_profiles()
        self.module, self.policy = module, policy or PinPolicy()
        self.on = on or date.today()
        self.token_selector = token
        self.device_key = device_key
        self.profile_choice = dict(profile_choice or {})
        for name in self.profile_choice.values():
            if name not in self.profiles.profiles:
                raise InvalidInput(f"no profile {name!r} in {self.profiles.source}; "
                                   f"known: {', '.join(self.profiles.profiles)}")
        self.progress = progress or (lambda _message: None)
        self.remove_old = False
        self.hook = CrashHook()
        self._token: Token | None = None
        self._role: str | None = None  # who is logged in on self._token: "user", "admin" or None
        self._holder_pin: Pin | None = None
        self._entered = ""
        self._notes: list[str] = []
        self._validated: dict[str, ValidatedApplicant] = {}
        self._token_claim: str | None = None

    # -- entry points ------------------------------------------------------------------------

    def provision(self, validated: ValidatedApplicant, *, batch: str | None = None, row: int | None = None,
                  resume: bool = True) -> ProvisionResult:
        """Provision one validated applicant; a holder already done is reported, never made twice.

        The holder is claimed first (``ClaimHeld`` when another live process works on them);
        an applicant whose data differ from the journal's record is refused (``ApplicantConflict``).
        """
        key = subject_key(validated)
        with self.journal.claimed(holder_resource(key), f"holder {mask(key)}"):
            return self._provision(key, validated, batch, row, resume)

    def _provision(self, key: str, validated: ValidatedApplicant, batch: str | None, row: int | None,
                   resume: bool) -> ProvisionResult:
        conflict = journal_conflict(self.journal.holder(key), validated, (row,) if row else ())
        if conflict is not None:
            raise ApplicantConflict(conflict)
        self._validated[key] = validated
        unfinished = self.journal.open_enrolment(key)
        if unfinished is not None:
            if not resume:
                raise JournalError(f"enrolment {unfinished.id} for {mask(key)} is unfinished "
                                   f"(at {unfinished.state}); rerun with --resume")
            return self.resume(unfinished)
        live = self.journal.current(key)
        if live is not None:
            if live.state == "lost":
                raise InvalidInput(f"the certificate of {mask(key)} was reported lost: use reissue")
            self.audit.record("provision", "already-done", subject=key, enrolment=live.id,
                              token=TokenRef(live.token_label, live.token_serial))
            return self.result(live, already_done=True)
        enrolment = self.journal.start(key, validated.applicant.kind, applicant_record(validated),
                                       batch=batch, row=row)
        self.audit.record("validate", "ok", subject=key, enrolment=enrolment.id, kind=validated.applicant.kind,
                          warnings=list(validated.warnings))
        return self.resume(enrolment)

    def initialises_token(self, validated: ValidatedApplicant) -> bool:
        """Whether provisioning this applicant now would (re)initialise a token, erasing it."""
        key = subject_key(validated)
        unfinished = self.journal.open_enrolment(key)
        if unfinished is not None:
            return unfinished.state == "validated"
        return self.journal.current(key) is None

    def resume(self, enrolment: Enrolment) -> ProvisionResult:
        """Carry an enrolment on from its journalled state until done (or awaiting a certificate).

        Under the holder's claim, from the state the journal has once the claim is held.
        """
        key = enrolment.subject_key
        with self.journal.claimed(holder_resource(key), f"holder {mask(key)}"):
            fresh = self._here(self.journal.enrolment(enrolment.id))
            return self.result(self._run(self._restart_if_token_destroyed(fresh)))

    def _here(self, e: Enrolment) -> Enrolment:
        """The enrolment, moved to this counter if no token was touched yet (``HeldElsewhere`` if one was)."""
        if e.counter in (None, self.journal.counter):
            return e
        if e.token_label is not None:
            raise HeldElsewhere(mask(e.subject_key), e.id, e.counter or "?", e.state)
        self.journal.note(e, "counter-moved", "ok", {"from": e.counter, "to": self.journal.counter},
                          counter=self.journal.counter)
        return self.journal.enrolment(e.id)

    def _restart_if_token_destroyed(self, e: Enrolment) -> Enrolment:
        """Start an unfinished enrolment again on a new token when its simulated token is gone.

        A SoftHSM token cannot be unplugged, so a missing one was destroyed (a process killed
        while SoftHSM rewrote the token's file can leave it unreadable). A real USB-Key that is
        missing was taken out: that stays an error asking to insert it.
        """
        if e.token_label is None or e.state in ("validated", "done") or self.token_selector:
            return e
        if not tokens_are_fixed(self.module) or self.find_token(e) is not None:
            return e
        detail: dict[str, object] = {"reason": "simulated token destroyed", "old_token": e.token_label,
                                     "old_state": e.state}
        if e.cert_serial:
            # The CA issued a certificate for a key that no longer exists: it must be revoked.
            detail["revoke_certificate"] = e.cert_serial
        self._note(f"{mask(e.subject_key)}: token {e.token_label} is gone; starting again on a new token")
        self.audit.record("token-lost", "restart", subject=e.subject_key, enrolment=e.id,
                          token=self._token_ref(e), **({"revoke": e.cert_serial} if e.cert_serial else {}))
        cleared = dict.fromkeys(("token_label", "token_serial", "key_label", "key_id", "csr", "certificate",
                                 "chain", "cert_serial", "not_after", "handoff", "enc_certificate", "enc_serial",
                                 "enc_not_after", "escrow_ref"))
        return self.journal.advance(e, "validated", detail, **cleared)

    def complete(self, certificate_file: bytes, encryption_certificate: bytes | None = None,
                 envelope: bytes | None = None, *, escrow_ref: str | None = None) -> ProvisionResult:
        """Finish an enrolment handed off to a CA, with the certificate (and chain) it returned.

        A dual-certificate enrolment also needs the KMC's encryption certificate and envelope:
        all of it is checked against the request, the key on the token and each other, and the
        envelope imported, before the journal moves on; anything refused leaves both unchanged.
        ``escrow_ref`` is the KMC's name for its escrowed copy, journalled with the certificates.
        """
        leaf, chain = split_issued(certificate_file)
        waiting = [e for e in self.journal.enrolments()
                   if e.state == "awaiting-certificate" and e.csr and request_matches(e.csr, leaf)]
        if not waiting:
            raise InvalidInput("no enrolment is awaiting a certificate for this certificate's key")
        key = waiting[0].subject_key
        with self.journal.claimed(holder_resource(key), f"holder {mask(key)}"):
            enrolment = self.journal.enrolment(waiting[0].id)
            if enrolment.state == "awaiting-certificate":
                delivery = handed_back(self.profile_for(enrolment), leaf, chain, encryption_certificate, envelope)
                try:
                    enrolment = self._issued(enrolment, leaf, chain, {"from": "hand-off"}, delivery,
                                             escrow_ref if delivery is not None else None)
                except BaseException:
                    self._release()
                    raise
            return self.resume(enrolment)

    def result(self, e: Enrolment, *, already_done: bool = False) -> ProvisionResult:
        return ProvisionResult(
            enrolment=e.id, subject=mask(e.subject_key), kind=self._kind(e.subject_key), purpose=e.purpose,
            state=e.state, token_label=e.token_label, token_serial=e.token_serial, key_label=e.key_label,
            key_id=e.key_id, certificate_serial=e.cert_serial, not_after=e.not_after,
            pin_generated=bool(e.pin_generated), pin_must_change=bool(e.pin_must_change), handoff=e.handoff,
            already_done=already_done, notes=tuple(self._notes), encryption_certificate_serial=e.enc_serial,
            encryption_not_after=e.enc_not_after, escrow_ref=e.escrow_ref,
        )

    # -- the loop --------------------------------------------------------------------------------

    def _run(self, enrolment: Enrolment) -> Enrolment:
        steps: dict[str, Callable[[Enrolment], Enrolment]] = {
            "validated": self._token_step, "token-ready": self._pin_step, "pin-set": self._key_step,
            "key-ready": self._csr_step, "csr-ready": self._issue_step, "issued": self._install_step,
            "installed": self._check_step, "verified": self._finish,
        }
        self._entered, self._notes = enrolment.state, []
        try:
            while enrolment.state in steps:
                self.progress(f"{mask(enrolment.subject_key)}: {STEP_TEXT[enrolment.state]}")
                enrolment = steps[enrolment.state](enrolment)
        except SitokenError as exc:
            self._failed(enrolment, exc)
            raise
        finally:
            self._release()
        return enrolment

    def _failed(self, enrolment: Enrolment, exc: SitokenError) -> None:
        # The message never holds a PIN (errors.py); it tells the clerk what to fix before a rerun.
        try:
            current = self.journal.enrolment(enrolment.id)
            self.journal.note(current, current.state, "failed", exc.to_dict(), last_error=str(exc))
        except JournalError:
            pass
        self.audit.record(ACTION[enrolment.purpose], "failed", subject=enrolment.subject_key, enrolment=enrolment.id,
                          token=TokenRef(enrolment.token_label, enrolment.token_serial), error=exc.code,
                          step=enrolment.state)

    def _release(self) -> None:
        if self._token is not None:
            try:
                if self._role is not None:
                    # A card keeps a verified PIN after the reader connection closes: reset it.
                    self._token.logout()
            except SitokenError:
                pass  # a token pulled out has forgotten the login anyway; never mask the first error
            finally:
                self._token.close()
        self._token, self._role = None, None
        if self._token_claim is not None:
            self.journal.release(self._token_claim)
            self._token_claim = None
        if self._holder_pin is not None:
            self._holder_pin.wipe()
        self._holder_pin = None

    def _advance(self, enrolment: Enrolment, state: str, detail: dict[str, object], **columns: object) -> Enrolment:
        done = self.journal.advance(enrolment, state, detail, **columns)
        self.hook(f"{state}:journalled")
        return done

    def _before(self, point: str, enrolment: Enrolment) -> None:
        """Before an irreversible token or CA call: the holder's claim must still be ours (renewed).

        Checked last, right before the call: a process stopped at the hook and resumed after
        its lease was taken over finds out here and makes nothing.
        """
        self.hook(point)
        self.journal.hold(holder_resource(enrolment.subject_key))

    def _note(self, text: str) -> None:
        self._notes.append(text)
        self.progress(text)

    # -- helpers --------------------------------------------------------------------------------

    def _kind(self, key: str) -> str:
        record = self.journal.holder(key)
        return str(record.get("kind")) if record else "?"

    def validated_for(self, key: str) -> ValidatedApplicant:
        """The holder's applicant data as journalled, validated again (for resume, renewal, reissue)."""
        if key not in self._validated:
            record = self.journal.holder(key)
            if record is None:
                raise JournalError(f"the journal holds no applicant {mask(key)}")
            self._validated[key] = validate(applicant_from_dict(record), on=self.on)
        return self._validated[key]

    def profile_for(self, enrolment: Enrolment) -> CertProfile:
        """The enrolment's profile once chosen; before: ``--profile``, else the issuer's default, else by kind."""
        if enrolment.profile and enrolment.profile in self.profiles.profiles:
            return self.profiles.profiles[enrolment.profile]
        kind = self._kind(enrolment.subject_key)
        for name in (self.profile_choice.get(kind), self.issuer.default_profiles.get(kind)):
            if name and name in self.profiles.profiles and self.profiles.profiles[name].kind == kind:
                return self.profiles.profiles[name]
        return self.profiles.for_kind(kind)

    def require_so_pin(self) -> Pin:
        if self.so_pin is None:
            raise InvalidInput("this step needs the counter's SO PIN (--so-pin-env, --so-pin-file or a prompt)")
        return self.so_pin

    def find_token(self, enrolment: Enrolment) -> Token | None:
        """The enrolment's token: the selected one if it is that token, else by serial (else label); None if absent.

        The selector comes first because it may name the only way to the token (``pcsc:READER``).
        """
        if self.token_selector and enrolment.token_serial:
            try:
                chosen = self._open_selected(self.token_selector)
            except (TokenNotFound, TokenAbsent):
                chosen = None
            if chosen is not None:
                if chosen.info().serial == enrolment.token_serial:
                    return chosen
                chosen.close()
        found = self._find_in_module(enrolment)
        if found is None and self._token is None and tokens_are_fixed(self.module):
            # SoftHSM lists the tokens of its store as they were when this process loaded it: a
            # token another process made since (one whose work this process takes over) shows
            # only after the module is initialised again. No token of this counter is open now.
            load_module(self.module).reinitialize()
            found = self._find_in_module(enrolment)
        return found

    def _find_in_module(self, enrolment: Enrolment) -> Token | None:
        for selector in (enrolment.token_serial, enrolment.token_label):
            if not selector:
                continue
            try:
                return self._open_selected(selector)
            except TokenNotFound:
                continue
        return None

    def _open_selected(self, selector: str | None) -> Token:
        return open_token(selector, module=self.module, policy=self.policy, device_key=self._device_key())

    def _device_key(self) -> DeviceKey | None:
        """A copy for one SKF token (which wipes the key it was given when it closes)."""
        return self.device_key.copy() if self.device_key is not None and skf_selected(self.module) else None

    def _open(self, enrolment: Enrolment) -> Token:
        if self._token is None:
            token = self.find_token(enrolment)
            if token is None:
                raise TokenNotFound(f"token {enrolment.token_label!r} (serial {enrolment.token_serial}) "
                                    "is not present: insert it and run again")
            self._token = token
        return self._token

    def _login(self, enrolment: Enrolment) -> Token:
        """The token with the holder logged in (the administrator logged out first)."""
        token = self._open(enrolment)
        if self._role == "admin":
            token.logout()
            self._role = None
        if self._holder_pin is None:
            self._holder_pin, _ = self.holder_pins.pin_for(enrolment.subject_key, new=False)
        token.login(self._holder_pin)
        self._role = "user"
        return token

    def _admin(self, enrolment: Enrolment) -> Token:
        """The token with the administrator (SO PIN) logged in (the holder logged out first)."""
        token = self._open(enrolment)
        if self._role == "user":
            token.logout()
            self._role = None
        if self._role != "admin":
            token.login_admin(self.require_so_pin())
            self._role = "admin"
        return token

    def _writer(self, enrolment: Enrolment) -> Token:
        """The token logged in as whoever may write keys and certificates on it.

        The holder, except on tokens that declare ``keygen_needs_so_pin`` (an OpenPGP card,
        OpenSC over one): there the administrator generates keys and writes certificates.
        """
        if self._open(enrolment).capabilities.keygen_needs_so_pin:
            return self._admin(enrolment)
        return self._login(enrolment)

    def _token_ref(self, enrolment: Enrolment) -> TokenRef:
        return TokenRef(enrolment.token_label, enrolment.token_serial)

    # -- steps --------------------------------------------------------------------------------

    def _new_label(self, enrolment: Enrolment) -> str:
        # No digit of the holder's number (a label is shown to anyone holding the token); the
        # enrolment number is unique in this journal, the random suffix between counters
        # sharing a module, so no two counters pick (and erase) each other's token.
        return f"SI-{enrolment.id:06d}-{secrets.token_hex(2)}"

    def _token_step(self, enrolment: Enrolment) -> Enrolment:
        so_pin = self.require_so_pin()
        fresh = enrolment.token_label is None
        if fresh:
            serial = self._claim_selected_token(enrolment) if self.token_selector else None
            enrolment = self.journal.intent(enrolment, "token", token_label=self._new_label(enrolment),
                                            token_serial=serial)
        elif self.token_selector and enrolment.token_serial:
            self._claim_token(enrolment.token_serial, enrolment)
        # A label first written by this run names no token yet: only a resumed one is looked for.
        token = None if fresh and not self.token_selector else self.find_token(enrolment)
        if token is None:
            token = open_free_token(module=self.module, policy=self.policy, device_key=self._device_key())
        elif not self.token_selector:
            self._note(f"token {enrolment.token_label} was initialised before the journal recorded it: "
                       "initialising it again")
        label = enrolment.token_label or ""
        self._before("token-init:before", enrolment)
        token.init_token(so_pin, label)
        self.hook("token-init:after")
        self._token = token
        info = token.info()
        enrolment = self._advance(enrolment, "token-ready", {"label": label, "serial": info.serial},
                                  token_serial=info.serial)
        self.audit.record("token-init", "ok", subject=enrolment.subject_key, enrolment=enrolment.id,
                          token=self._token_ref(enrolment))
        return enrolment

    def _claim_selected_token(self, enrolment: Enrolment) -> str:
        """The serial of the token ``--token`` names, claimed for this run."""
        chosen = self._open_selected(self.token_selector)
        try:
            serial = chosen.info().serial
        finally:
            chosen.close()
        self._claim_token(serial, enrolment)
        return serial

    def _claim_token(self, serial: str, enrolment: Enrolment) -> None:
        """No two runs initialise one named token; nor one whose unfinished enrolment is another holder's."""
        if self._token_claim is None:
            self.journal.claim(token_resource(serial), f"token {serial}")
            self._token_claim = token_resource(serial)
        others = [e for e in self.journal.enrolments() if e.token_serial == serial and not e.finished
                  and e.subject_key != enrolment.subject_key]
        if others:
            raise JournalError(f"token {serial} carries the unfinished enrolment {others[0].id} of another holder: "
                               "finish or report it before reusing the token")

    def _pin_step(self, enrolment: Enrolment) -> Enrolment:
        so_pin = self.require_so_pin()
        token = self._open(enrolment)
        pin, generated = self.holder_pins.pin_for(enrolment.subject_key, new=True)
        # The holder's birth date and ID digits are refused before anything reaches the token.
        self.policy.enforce(pin, avoid=[so_pin.text(), enrolment.subject_key],
                            holder=holder_context(enrolment.subject_key))
        self._before("pin:before", enrolment)
        token.init_pin(so_pin, pin)
        self.hook("pin:after")
        self._holder_pin = pin
        must_change = generated or token.pin_status().must_change
        enrolment = self._advance(enrolment, "pin-set", {"generated": generated, "must_change": must_change},
                                  pin_generated=int(generated), pin_must_change=int(must_change))
        self.audit.record("pin-set", "ok", subject=enrolment.subject_key, enrolment=enrolment.id,
                          token=self._token_ref(enrolment), generated=generated, must_change=must_change)
        return enrolment

    def _key_step(self, enrolment: Enrolment) -> Enrolment:
        profile = self.profile_for(enrolment)
        capabilities = self._open(enrolment).capabilities
        # The profile's first acceptable key type the token can make (a card: rsa2048).
        key_type = profile.key_type_for(capabilities.key_types)
        if profile.dual and not capabilities.imports_enveloped_keys:
            raise NotSupported(f"profile {profile.name!r} has dual SM2 certificates: the KMC's encryption key "
                               "goes into an SKF container, which this token does not have")
        if enrolment.key_id is None:
            # A token with fixed key slots says where the key goes; SKF names a key by its
            # container (the id is the label's bytes); elsewhere a fresh CKA_ID.
            label = f"sign-{enrolment.id}"
            label, key_id = capabilities.signature_key_slot or (
                label, label.encode().hex() if capabilities.key_id_is_label else secrets.token_hex(8))
            replaces = _public_key_hash(self._open(enrolment), key_id)
            enrolment = self.journal.intent(enrolment, "key", {"key_type": key_type.value, "replaces_key": replaces},
                                            key_label=label, key_id=key_id, profile=profile.name)
        if key_type is not profile.key_type:
            self._note(f"profile {profile.name!r} prefers {profile.key_type.value}; "
                       f"this token makes {key_type.value}, which the profile also accepts")
        token = self._writer(enrolment)
        self._purge(token, enrolment)
        adopted = self._reconcile_key(token, enrolment, key_type)
        if not adopted:
            self._before("key:before", enrolment)
            token.generate_key(key_type, enrolment.key_label or "", bytes.fromhex(enrolment.key_id or ""))
            self.hook("key:after")
        enrolment = self._advance(enrolment, "key-ready", {"key_type": key_type.value, "adopted": adopted,
                                                           "key_id": enrolment.key_id})
        self.audit.record("key-generate", "adopted" if adopted else "ok", subject=enrolment.subject_key,
                          enrolment=enrolment.id, token=self._token_ref(enrolment), key_id=enrolment.key_id,
                          key_type=key_type.value)
        return enrolment

    def _purge(self, token: Token, enrolment: Enrolment) -> None:
        self.journal.hold(holder_resource(enrolment.subject_key))
        removed = purge_incomplete_objects(token)
        if removed:
            self._note(f"{removed} half-made object(s) left by a killed run: deleted")
            self.journal.note(enrolment, "object-reconcile", "deleted", {"objects": removed})

    def _reconcile_key(self, token: Token, enrolment: Enrolment, key_type: KeyType) -> bool:
        """Adopt a whole key pair left by a killed run; delete halves and strays under our label.

        In a fixed slot (always the same id) the key the slot held before the intent is not
        ours: it is recognised by its public key, journalled with the intent. A token that
        cannot delete keys overwrites the slot when the new key is generated.
        """
        adopted = False
        replaced = self.journal.last_intent(enrolment, "key").get("replaces_key")
        for key in token.keys():
            ours = key.id == enrolment.key_id
            if not ours and key.label != enrolment.key_label:
                continue
            whole = key.has_private and key.has_public and key.key_type is key_type
            if ours and whole and (replaced is None or _public_key_hash(token, key.id) != replaced):
                self._note(f"key {key.id} was generated before the journal recorded it: adopted")
                self.journal.note(enrolment, "key-reconcile", "adopted", {"key_id": key.id})
                adopted = True
                continue
            if not token.capabilities.can_delete_keys:
                self._note(f"key {key.id} ({key.label}) is not this enrolment's: the new key replaces it")
                self.journal.note(enrolment, "key-reconcile", "replaced", {"key_id": key.id})
                continue
            token.delete_key(f"id:{key.id}")
            self._note(f"incomplete or stray key {key.id} under {enrolment.key_label}: deleted")
            self.journal.note(enrolment, "key-reconcile", "deleted", {"key_id": key.id})
        return adopted

    def _csr_step(self, enrolment: Enrolment) -> Enrolment:
        token = self._login(enrolment)
        profile = self.profile_for(enrolment)
        values = template_fields(self.validated_for(enrolment.subject_key))
        der = build_csr(TokenSigner(token, f"id:{enrolment.key_id}"), profile.subject_for(values),
                        key_usage=profile.key_usage, extended_key_usage=profile.extended_key_usage,
                        extra_extensions=profile.extensions_for(values))
        return self._advance(enrolment, "csr-ready", {"profile": profile.name, "bytes": len(der)}, csr=der)

    def _issue_step(self, enrolment: Enrolment) -> Enrolment:
        profile = self.profile_for(enrolment)
        resuming = self._entered == "csr-ready"
        self._before("issue:before", enrolment)
        issuance = self.issuer.issue(enrolment.csr or b"", profile, f"sitoken-{enrolment.id}", resuming=resuming)
        self.hook("issue:after")
        if issuance.pending:
            enrolment = self._advance(enrolment, "awaiting-certificate", {"issuer": self.issuer.name,
                                      "handoff": issuance.handoff}, handoff=issuance.handoff)
            self.audit.record("issue", "handed-off", subject=enrolment.subject_key, enrolment=enrolment.id,
                              token=self._token_ref(enrolment), issuer=self.issuer.name, file=issuance.handoff)
            return enrolment
        if issuance.adopted:
            self._note("the CA had issued a certificate for this key before the journal recorded it: adopted")
        leaf = issuance.certificate or b""
        delivery, escrow_ref = self._kmc_delivery(enrolment, profile, leaf, issuance.chain)
        return self._issued(enrolment, leaf, issuance.chain,
                            {"issuer": self.issuer.name, "adopted": issuance.adopted}, delivery, escrow_ref)

    def _kmc_delivery(self, enrolment: Enrolment, profile: CertProfile, leaf: bytes,
                      chain: tuple[bytes, ...]) -> tuple[EncryptionDelivery | None, str | None]:
        """For a dual profile, the issuer's KMC makes (or, on a rerun, delivers again) the encryption pair."""
        if not profile.dual:
            return None, None
        deliver = getattr(self.issuer, "deliver_encryption", None)
        if deliver is None:
            raise NotSupported(f"issuer {self.issuer.name!r} has no KMC for profile {profile.name!r}: use an SM2 "
                               "local CA, or --issuer file and 'provision complete' with the KMC's files")
        self._before("kmc:before", enrolment)
        kmc = deliver(leaf, profile)
        self.hook("kmc:after")
        return check_encryption_delivery(leaf, kmc.certificate, kmc.envelope, chain), kmc.escrow_ref

    def _issued(self, enrolment: Enrolment, leaf: bytes, chain: tuple[bytes, ...], detail: dict[str, object],
                delivery: EncryptionDelivery | None = None, escrow_ref: str | None = None) -> Enrolment:
        info = cert_info(leaf)
        detail = {**detail, "serial": info.serial, "fingerprint": info.fingerprint_sha256}
        columns: dict[str, object] = {}
        if delivery is not None:
            # The envelope goes into the token now and never into the journal: only the
            # certificate and where the KMC escrowed the key are recorded.
            self._import_encryption_key(enrolment, leaf, delivery)
            enc = cert_info(delivery.certificate)
            detail.update(encryption_serial=enc.serial, encryption_fingerprint=enc.fingerprint_sha256,
                          escrow_ref=escrow_ref)
            columns = {"enc_certificate": delivery.certificate, "enc_serial": enc.serial,
                       "enc_not_after": enc.not_after.isoformat(), "escrow_ref": escrow_ref}
        enrolment = self._advance(enrolment, "issued", detail,
                                  certificate=leaf, chain=to_pem(chain) if chain else None,
                                  cert_serial=info.serial, not_after=info.not_after.isoformat(), **columns)
        self.audit.record("issue", "ok", subject=enrolment.subject_key, enrolment=enrolment.id,
                          token=self._token_ref(enrolment), serial=info.serial, not_after=enrolment.not_after,
                          **({"encryption_serial": enrolment.enc_serial, "escrow_ref": escrow_ref}
                             if delivery is not None else {}))
        return enrolment

    def _import_encryption_key(self, enrolment: Enrolment, leaf: bytes, delivery: EncryptionDelivery) -> None:
        """The KMC's envelope into the signature key's container; a rerun finds the pair already there."""
        token = self._writer(enrolment)
        sign_key = f"id:{enrolment.key_id}"
        require_signature_key(token, sign_key, leaf, f"{enrolment.key_label!r} on token {enrolment.token_label!r}")
        if encryption_key(token, delivery.certificate) is not None:
            self._note("the encryption key was imported before the journal recorded it: adopted")
            return
        self._before("envelope:before", enrolment)
        import_envelope(token, sign_key, delivery)
        self.hook("envelope:after")

    def _chain(self, enrolment: Enrolment) -> list[bytes]:
        return load_certificates(enrolment.chain) if enrolment.chain else []

    def _install_step(self, enrolment: Enrolment) -> Enrolment:
        token = self._writer(enrolment)
        self._purge(token, enrolment)
        leaf = enrolment.certificate or b""
        # The stored DER is enough to recognise it: no listing with statuses and key pairs.
        adopted = any(c.der == leaf for c in token.certificates())
        if adopted:
            self._note("the certificate was installed before the journal recorded it: adopted")
        else:
            self._before("install:before", enrolment)
            install_certificates(token, to_pem([leaf, *self._chain(enrolment)]), key=f"id:{enrolment.key_id}",
                                 label=enrolment.key_label)
            self.hook("install:after")
        if enrolment.enc_certificate and not any(c.der == enrolment.enc_certificate for c in token.certificates()):
            # Into the slot of the key it certifies: the container's encryption half on SKF.
            self._before("install-enc:before", enrolment)
            install_certificates(token, to_pem([enrolment.enc_certificate]))
            self.hook("install-enc:after")
        enrolment = self._advance(enrolment, "installed", {"adopted": adopted})
        self.audit.record("install", "ok", subject=enrolment.subject_key, enrolment=enrolment.id,
                          token=self._token_ref(enrolment), serial=enrolment.cert_serial)
        return enrolment

    def _check_step(self, enrolment: Enrolment) -> Enrolment:
        """Sign a CMS document with the new key and verify it to the CA's root: the certificate works."""
        token = self._login(enrolment)
        chain = self._chain(enrolment)
        leaf = enrolment.certificate or b""
        document = f"sitoken provisioning check: enrolment {enrolment.id}".encode()
        signature = sign_cms(TokenSigner(token, f"id:{enrolment.key_id}"), leaf, document, chain=chain)
        checked = verify_cms(signature, document, trust=self.issuer.trust_anchors(chain),
                             at=datetime.now(timezone.utc))
        detail: dict[str, object] = {"mechanism": checked.mechanism.value, "path_length": len(checked.path)}
        if enrolment.enc_certificate:
            detail["decrypt"] = decrypt_round_trip(token, enrolment.enc_certificate)
        return self._advance(enrolment, "verified", detail)

    def _finish(self, enrolment: Enrolment) -> Enrolment:
        if enrolment.purpose == "renew" and enrolment.replaces is not None:
            old = self.journal.enrolment(enrolment.replaces)
            removed = self._remove_old(enrolment, old) if self.remove_old else False
            enrolment = self.journal.close_pair(enrolment, old, "superseded", {"old_removed": removed})
        else:
            enrolment = self._advance(enrolment, "done", {"replaces": enrolment.replaces})
        self.audit.record(ACTION[enrolment.purpose], "done", subject=enrolment.subject_key, enrolment=enrolment.id,
                          token=self._token_ref(enrolment), serial=enrolment.cert_serial,
                          replaces=enrolment.replaces)
        return enrolment

    def _remove_old(self, enrolment: Enrolment, old: Enrolment) -> bool:
        """Delete the replaced key pair and its certificate (idempotent: a rerun finds them gone)."""
        token = self._login(enrolment)
        if not old.key_id:
            return False
        self._before("remove-old:before", enrolment)
        removed = delete_certificates_of(token, old.key_id)
        if any(k.id == old.key_id for k in token.keys()):
            token.delete_key(f"id:{old.key_id}")
            removed += 1
        return bool(removed)
