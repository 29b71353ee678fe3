"""The certificate's life after the counter: renewal, loss report, reissue, administrator PIN reset."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from ..certs import cert_info
from ..errors import InvalidInput, JournalError, NotSupported
from ..pin import Pin
from ..safefiles import create_request, private_directory
from ..token import Token
from .audit import TokenRef
from .claims import holder_resource
from .dualcerts import delete_certificates_of
from .holder_pins import holder_context
from .journal import Enrolment, mask, now_text
from .workflow import Counter, ProvisionResult, applicant_record

__all__ = ["LossReport", "PinResetRecord", "Revocation", "find_subject", "reissue", "renew", "report_loss", "reset_pin"]

LOSS_REASONS = ("lost", "damaged", "compromised")
_T = TypeVar("_T")


def _claimed(counter: Counter, key: str, action: Callable[[], _T]) -> _T:
    """Run ``action`` holding the holder's claim: no other process works on them meanwhile."""
    with counter.journal.claimed(holder_resource(key), f"holder {mask(key)}"):
        return action()


@dataclass(frozen=True)
class Revocation:
    """One certificate a loss report asks the CA to revoke, and the request file written for it."""

    enrolment: int
    certificate_serial: str | None
    not_after: str | None
    state: str  # the enrolment's state before the report: done, superseded, or unfinished
    request: str
    usage: str = "signature"  # or "encryption": the KMC's certificate of a dual-certificate holder

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class LossReport:
    """What a loss report did: the journal state, the revocation request, whether objects were destroyed."""

    enrolment: int
    subject: str
    certificate_serial: str | None
    reason: str
    revocation_request: str  # the current certificate's request (``revocations`` lists them all)
    token_present: bool
    destroyed: bool
    not_destroyed_because: str | None = None
    revocations: tuple[Revocation, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {**self.__dict__, "revocations": [r.to_dict() for r in self.revocations]}


@dataclass(frozen=True)
class PinResetRecord:
    """An administrator PIN reset at the counter, as journalled."""

    enrolment: int
    subject: str
    token_label: str | None
    token_serial: str | None

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def find_subject(counter: Counter, number: str) -> str:
    """The journal's key for an ID number or credit code as a clerk types it (case, spaces, full width)."""
    cleaned = number.translate({cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}).strip().upper()
    if counter.journal.holder(cleaned) is None:
        raise InvalidInput(f"the journal holds no holder {mask(cleaned)}")
    return cleaned


def _live(counter: Counter, key: str, wanted: str = "done") -> Enrolment:
    live = counter.journal.current(key)
    if live is None or live.state != wanted:
        state = live.state if live else "not provisioned"
        raise InvalidInput(f"{mask(key)}: the current certificate is {state}, not {wanted}")
    return live


def _unfinished(counter: Counter, key: str, purpose: str) -> Enrolment | None:
    unfinished = counter.journal.open_enrolment(key)
    if unfinished is not None and unfinished.purpose != purpose:
        raise JournalError(f"{mask(key)} has an unfinished {unfinished.purpose} (enrolment {unfinished.id}): "
                           "finish it first")
    return unfinished


def renew(counter: Counter, key: str, *, remove_old: bool = False) -> ProvisionResult:
    """A new key, request, certificate on the same token; the old one stays until the new one works.

    With ``remove_old`` the replaced key pair and certificate are deleted after the new
    certificate passed its round trip; otherwise they stay on the token.
    """
    counter.remove_old = remove_old
    return _claimed(counter, key, lambda: _renew(counter, key))


def _renew(counter: Counter, key: str) -> ProvisionResult:
    unfinished = _unfinished(counter, key, "renew")
    if unfinished is not None:
        return counter.resume(unfinished)
    live = _live(counter, key)
    _refuse_fixed_key_slot(counter, live)
    validated = counter.validated_for(key)
    enrolment = counter.journal.start(
        key, validated.applicant.kind, applicant_record(validated), purpose="renew", replaces=live.id,
        state="pin-set", token_label=live.token_label, token_serial=live.token_serial,
    )
    counter.audit.record("renew", "started", subject=key, enrolment=enrolment.id, replaces=live.id,
                         token=TokenRef(live.token_label, live.token_serial))
    return counter.resume(enrolment)


def _refuse_fixed_key_slot(counter: Counter, live: Enrolment) -> None:
    """A token with one fixed signature key slot (a card) cannot hold the new key beside the old one."""
    token = counter.find_token(live)
    if token is None:
        return  # resume says to insert it
    try:
        slot = token.capabilities.signature_key_slot
    finally:
        token.close()
    if slot is not None:
        raise NotSupported(f"token {live.token_label!r} has one signature key slot ({slot[0]}): a renewal would "
                           "replace the key the current certificate needs; use report-loss and reissue")


def reissue(counter: Counter, key: str) -> ProvisionResult:
    """The whole workflow onto a new token for a holder whose certificate was reported lost."""
    return _claimed(counter, key, lambda: _reissue(counter, key))


def _reissue(counter: Counter, key: str) -> ProvisionResult:
    unfinished = _unfinished(counter, key, "reissue")
    if unfinished is not None:
        return counter.resume(unfinished)
    live = _live(counter, key, "lost")
    validated = counter.validated_for(key)
    enrolment = counter.journal.start(key, validated.applicant.kind, applicant_record(validated),
                                      purpose="reissue", replaces=live.id)
    counter.audit.record("reissue", "started", subject=key, enrolment=enrolment.id, replaces=live.id)
    return counter.resume(enrolment)


def _revocation_request(live: Enrolment, reason: str, operator: str, directory: Path,
                        usage: str = "signature") -> Path:
    certificate, serial, not_after = ((live.certificate, live.cert_serial, live.not_after) if usage == "signature"
                                      else (live.enc_certificate, live.enc_serial, live.enc_not_after))
    info = cert_info(certificate) if certificate else None
    request = {
        "type": "revocation-request", "reason": reason, "requested_at": now_text(), "operator": operator,
        "enrolment": live.id, "certificate_serial": serial, "usage": usage,
        "issuer": info.issuer if info else None, "subject": info.subject if info else None,
        "not_after": not_after, "token": {"label": live.token_label, "serial": live.token_serial},
    }
    if usage == "encryption":
        request["escrow_ref"] = live.escrow_ref  # the KMC's copy stays for key recovery; it is not revoked
    data = (json.dumps(request, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")
    return create_request(private_directory(directory, "revocation directory"),
                          f"revoke-{serial or live.id}", data)


def _revocations(counter: Counter, live: Enrolment, reason: str, directory: Path) -> tuple[Revocation, ...]:
    """One request per valid certificate the token holds or held: both of a dual-certificate holder."""
    out = []
    for e in certificates_on_token(counter, live):
        state = e.state if e.finished else "unfinished"
        out.append(Revocation(e.id, e.cert_serial, e.not_after, state,
                              str(_revocation_request(e, reason, counter.audit.operator, directory))))
        if e.enc_certificate:
            out.append(Revocation(e.id, e.enc_serial, e.enc_not_after, state,
                                  str(_revocation_request(e, reason, counter.audit.operator, directory, "encryption")),
                                  "encryption"))
    return tuple(out)


def certificates_on_token(counter: Counter, live: Enrolment) -> list[Enrolment]:
    """Every enrolment whose certificate the holder's token holds or held and that is still valid.

    The current one, those a renewal without ``--remove-old`` superseded (their key may still
    be on the token), and an unfinished renewal that already got its certificate. Newest first.
    """
    now = datetime.now(timezone.utc)
    found = []
    for e in counter.journal.enrolments(live.subject_key):
        same_token = (e.token_serial or e.token_label) == (live.token_serial or live.token_label)
        if not same_token or not e.certificate or e.state == "lost":
            continue
        if e.not_after and datetime.fromisoformat(e.not_after) <= now:
            continue  # expired: nothing left to revoke
        found.append(e)
    return sorted(found, key=lambda e: e.id, reverse=True)


def report_loss(counter: Counter, key: str, *, reason: str = "lost",
                revocations: str | os.PathLike[str]) -> LossReport:
    """Mark the certificate lost, request revocation of every valid certificate the token holds or held,
    and destroy the objects if the token is here.

    With the counter's SO PIN the token is wiped (re-initialised); without it the holder's
    PIN source is used to delete the key pair and its certificates.
    """
    if reason not in LOSS_REASONS:
        raise InvalidInput(f"reason must be one of {', '.join(LOSS_REASONS)}")
    return _claimed(counter, key, lambda: _report_loss(counter, key, reason, Path(revocations)))


def _report_loss(counter: Counter, key: str, reason: str, directory: Path) -> LossReport:
    live = _live(counter, key)
    requested = _revocations(counter, live, reason, directory)
    path = next((r.request for r in requested if r.enrolment == live.id), "")
    token = counter.find_token(live)
    destroyed, why = False, None
    if token is not None:
        try:
            why = _cannot_destroy(counter, token)
            destroyed = why is None and _destroy(counter, token, live)
        finally:
            token.close()
    _close_unfinished(counter, live, reason)
    counter.journal.advance(live, "lost", {"reason": reason, "revocation_request": path,
                                           "revoked": [r.certificate_serial for r in requested],
                                           "token_present": token is not None, "destroyed": destroyed,
                                           "not_destroyed_because": why})
    counter.audit.record("report-loss", "ok", subject=key, enrolment=live.id,
                         token=TokenRef(live.token_label, live.token_serial), reason=reason,
                         serial=live.cert_serial, destroyed=destroyed,
                         revoke=[r.certificate_serial for r in requested])
    return LossReport(live.id, mask(key), live.cert_serial, reason, path, token is not None, destroyed, why,
                      requested)


def _close_unfinished(counter: Counter, live: Enrolment, reason: str) -> None:
    """An unfinished renewal on the lost token can never finish: it is closed with the loss."""
    unfinished = counter.journal.open_enrolment(live.subject_key)
    if unfinished is not None and (unfinished.token_serial or unfinished.token_label) == \
            (live.token_serial or live.token_label):
        counter.journal.advance(unfinished, "lost", {"reason": reason, "closed_with": live.id})


def _cannot_destroy(counter: Counter, token: Token) -> str | None:
    """Why the objects cannot be destroyed here, before anything is tried (None: they can)."""
    if counter.so_pin is None and not token.capabilities.can_delete_keys:
        # A card deletes no key: only a wipe (factory reset) with the SO PIN removes it.
        return "this token deletes keys only by a wipe: give the counter's SO PIN"
    return None


def _destroy(counter: Counter, token: Token, live: Enrolment) -> bool:
    if counter.so_pin is not None:
        token.init_token(counter.so_pin, live.token_label or "SI-LOST")
        return True
    pin, _ = counter.holder_pins.pin_for(live.subject_key, new=False)
    with pin:
        token.login(pin)
    key_id = live.key_id or ""
    delete_certificates_of(token, key_id)
    if any(k.id == key_id for k in token.keys()):
        token.delete_key(f"id:{key_id}")
    return True


def reset_pin(counter: Counter, key: str, new_pin: Pin) -> PinResetRecord:
    """The holder forgot the PIN: the counter sets a new one with the SO PIN, and it is recorded."""
    return _claimed(counter, key, lambda: _reset_pin(counter, key, new_pin))


def _reset_pin(counter: Counter, key: str, new_pin: Pin) -> PinResetRecord:
    so_pin = counter.require_so_pin()
    live = _live(counter, key)
    token = counter.find_token(live)
    if token is None:
        raise InvalidInput(f"token {live.token_label!r} is not present")
    counter.policy.enforce(new_pin, avoid=[so_pin.text(), key], holder=holder_context(key))
    ref = TokenRef(live.token_label, live.token_serial)
    try:
        token.reset_pin(so_pin, new_pin)
    except Exception as exc:
        counter.audit.record("pin-reset", "failed", subject=key, enrolment=live.id, token=ref,
                             error=getattr(exc, "code", type(exc).__name__))
        raise
    finally:
        token.close()
    counter.journal.note(live, "pin-reset", "ok", {"by": counter.audit.operator}, pin_must_change=0)
    counter.audit.record("pin-reset", "ok", subject=key, enrolment=live.id, token=ref)
    return PinResetRecord(live.id, mask(key), live.token_label, live.token_serial)
