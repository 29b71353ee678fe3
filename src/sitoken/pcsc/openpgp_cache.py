"""What an OpenPGP card said during one session, kept until a command changes it."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import openpgp_data as od
from .openpgp_data import ApplicationData, KeySlot


@dataclass
class CardCache:
    """What the card said this session, kept until a command changes it (or the card leaves).

    Each round trip costs milliseconds on a real reader: DO 6E, the PW status, the
    cardholder name, public keys and certificates are read once and dropped only by
    what changes them (PIN commands, key generation, PUT DATA, reset, removal).
    """

    app: ApplicationData | None = None
    pw: od.PwStatus | None = None  # fresher than app.pw_status once a PIN command ran
    # PINs whose counter a command may have changed (the others' counters stay as read).
    pw_stale: set[int] = field(default_factory=set)
    # Counters known to be at the card's maximum, and those that will be at the next read
    # (a successful VERIFY, change or reset puts a counter back at its maximum).
    pw_full: set[int] = field(default_factory=set)
    pw_full_pending: set[int] = field(default_factory=set)
    name: bytes | None = None
    occurrence: int | None = None  # the DO 7F21 occurrence SELECT DATA last chose
    public_keys: dict[KeySlot, bytes] = field(default_factory=dict)
    certificates: dict[KeySlot, bytes] = field(default_factory=dict)

    def clear(self) -> None:
        self.app = self.pw = self.name = self.occurrence = None
        for known in (self.pw_stale, self.pw_full, self.pw_full_pending):
            known.clear()
        self.public_keys.clear()
        self.certificates.clear()

    def pw_read(self, status: od.PwStatus) -> None:
        self.pw = status
        self.pw_stale.clear()
        self.pw_full, self.pw_full_pending = set(self.pw_full_pending), set()

    def pin_succeeded(self, counter: int) -> None:
        if counter not in self.pw_full:  # at the maximum now, but which number that is, C4 says
            self.pw_stale.add(counter)
            self.pw_full_pending.add(counter)

    def pin_failed(self, counter: int) -> None:
        self.pw_stale.add(counter)
        self.pw_full.discard(counter)
        self.pw_full_pending.discard(counter)
