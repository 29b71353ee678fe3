"""Claims: which process works on a holder (or a named token), with a lease that dies with it.

A claim's owner is this host, this process (pid and start time, so a reused pid is not
mistaken for the owner) and one journal connection. Another process may take a claim over
only when its owner is dead (same host: no process with that pid and start time) or its
lease has expired (every step the owner journals renews it). The journal backend stores
claims; this module holds what any backend shares: the owner's identity and the errors.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import JournalError

__all__ = ["DEFAULT_LEASE", "LEASE_ENV", "Claim", "ClaimHeld", "ClaimLost", "ClaimStore", "Owner",
           "holder_resource", "token_resource"]

#: Seconds a claim stays valid without news from its owner; every journalled step renews it.
DEFAULT_LEASE = 300.0
#: Overrides the lease (seconds), e.g. for a counter whose key generation takes longer.
LEASE_ENV = "SITOKEN_CLAIM_LEASE"


def holder_resource(subject_key: str) -> str:
    return f"holder:{subject_key}"


def token_resource(serial: str) -> str:
    return f"token:{serial}"


def lease_seconds() -> float:
    """The lease from ``$SITOKEN_CLAIM_LEASE``, else the default."""
    try:
        value = float(os.environ.get(LEASE_ENV, ""))
    except ValueError:
        return DEFAULT_LEASE
    return value if value > 0 else DEFAULT_LEASE


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_start(pid: int) -> str | None:
    """An id of when process ``pid`` started (boot id + start ticks); None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return _start_without_proc(pid)
    # The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None  # killed, not yet reaped by its parent: dead all the same
    return f"{_boot_id()}:{fields[19]}"


def _start_without_proc(pid: int) -> str | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return "?"


@dataclass(frozen=True)
class Owner:
    """Who holds a claim: host, process, process start, one journal connection, and the operator."""

    host: str
    pid: int
    started: str
    connection: str
    operator: str

    @classmethod
    def this_process(cls, operator: str) -> Owner:
        return cls(socket.gethostname(), os.getpid(), process_start(os.getpid()) or "?", secrets.token_hex(4),
                   operator)

    @property
    def text(self) -> str:
        return f"{self.host}/{self.pid}/{self.started}/{self.connection}"

    def alive(self) -> bool:
        """False only when the owner is known dead: on this host, its process is gone (or the pid reused).

        On another host nothing can be known from here: the lease decides.
        """
        if self.host != socket.gethostname():
            return True
        started = process_start(self.pid)
        if started is None:
            return False
        return "?" in (started, self.started) or started == self.started

    def describe(self) -> str:
        return f"{self.operator}, pid {self.pid} on {self.host}"


@dataclass(frozen=True)
class Claim:
    """A claim as the journal stores it."""

    resource: str
    owner: Owner
    expires: float  # seconds since the epoch

    def live(self, now: float | None = None) -> bool:
        """Held: its lease runs and its owner is not known dead."""
        return self.expires > (now if now is not None else time.time()) and self.owner.alive()

    def to_dict(self) -> dict[str, object]:
        return {"host": self.owner.host, "pid": self.owner.pid, "operator": self.owner.operator,
                "expires": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.expires))}


class ClaimHeld(JournalError):
    """Another live process holds the claim: this one leaves the holder (or token) alone."""

    code = "claim-held"

    def __init__(self, what: str, claim: Claim) -> None:
        self.claim = claim
        super().__init__(f"{what} is being worked on by another process ({claim.owner.describe()}, "
                         f"lease until {claim.to_dict()['expires']}): left alone")

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "held_by": self.claim.to_dict()}


class ClaimLost(JournalError):
    """This process's claim expired and another took it over: it stops and makes nothing more."""

    code = "claim-lost"


class ClaimStore(Protocol):
    """What a journal backend implements for claims (SQLite now; PostgreSQL for a hall of counters).

    Each call is atomic in the backend: a claim is taken, checked or given up in one
    transaction, and the backend's writes about a holder check its claim in theirs.
    """

    owner: Owner

    def claim(self, resource: str, what: str | None = None) -> Claim:
        """Take ``resource``: new, already ours, or its owner dead or lease expired; else ``ClaimHeld``."""
        ...

    def hold(self, resource: str) -> None:
        """Still ours? Renew the lease; else ``ClaimLost``."""
        ...

    def release(self, resource: str) -> None:
        """Give it up (a no-op if another process took it over)."""
        ...

    def claim_of(self, resource: str) -> Claim | None:
        """The live claim on ``resource``, if any."""
        ...

    def claimed(self, resource: str, what: str | None = None) -> AbstractContextManager[None]:
        """Hold ``resource`` for a block (re-entrant)."""
        ...
