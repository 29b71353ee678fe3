"""Nonces for authentication: random, single use, short-lived, bound to one session."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InvalidInput

NONCE_BYTES = 32
DEFAULT_LIFETIME = 300.0  # seconds: long enough to find the key and type a PIN
MAX_PENDING = 100_000  # a flood of sessions asking for nonces cannot grow the store without bound


@dataclass(frozen=True)
class _Issued:
    nonce: str
    expires: float


class NonceStore:
    """One pending nonce per session, taken back once. In memory, thread-safe; one per portal process.

    The portal never reads the nonce back from the browser: :meth:`take` returns the one it
    issued to the session, so a token can only verify against that nonce, once.
    ``clock`` is a monotonic time source in seconds (tests pass their own).
    """

    def __init__(self, *, lifetime: float = DEFAULT_LIFETIME,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if lifetime <= 0:
            raise InvalidInput("a nonce lifetime must be positive")
        self.lifetime = lifetime
        self._clock = clock
        self._pending: dict[str, _Issued] = {}
        self._lock = threading.Lock()

    def issue(self, session_id: str) -> str:
        """A new nonce (base64 of 32 random bytes) for ``session_id``; an earlier one is void."""
        if not isinstance(session_id, str) or not session_id:
            raise InvalidInput("a nonce is bound to a session: the session id is empty")
        nonce = base64.b64encode(secrets.token_bytes(NONCE_BYTES)).decode("ascii")
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                self._drop_expired()
            if len(self._pending) >= MAX_PENDING:
                raise InvalidInput("too many nonces are pending; try again later")
            self._pending[session_id] = _Issued(nonce, self._clock() + self.lifetime)
        return nonce

    def take(self, session_id: str) -> tuple[str | None, str]:
        """The session's pending nonce, removed: ``(nonce, "")``, or ``(None, reason)``.

        The reason is "unknown" (none pending: never issued, or already used) or "expired".
        """
        with self._lock:
            issued = self._pending.pop(session_id, None)
        if issued is None:
            return None, "unknown"
        if self._clock() > issued.expires:
            return None, "expired"
        return issued.nonce, ""

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def _drop_expired(self) -> None:
        now = self._clock()
        for session in [s for s, i in self._pending.items() if now > i.expires]:
            del self._pending[session]
