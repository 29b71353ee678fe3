"""PC/SC readers: listing with card state and ATR, known ATRs, and reader/card events."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from enum import Enum

from ..errors import ModuleLoadError, TokenAbsent, TokenError, TokenNotFound
from . import transport as tp

log = logging.getLogger("sitoken.pcsc")

# Exact ATRs seen on the test bed (testbed/PCSC.md); a real card is named by its
# historical bytes where they carry a product name.
KNOWN_ATRS: dict[bytes, str] = {
    bytes.fromhex("3BDA11FF81B1FE551F030031C873FB11DF0190009D"): "OpenPGP card (python emulator)",
    bytes.fromhex("3B951381018073FF01000B"): "ISO 7816 card (vsmartcard vicc)",
}
_NAMES_IN_ATR = {b"YubiKey": "YubiKey"}


def identify_atr(atr: bytes | None) -> str | None:
    """A name for a known card, or None."""
    if not atr:
        return None
    if atr in KNOWN_ATRS:
        return KNOWN_ATRS[atr]
    return next((name for marker, name in _NAMES_IN_ATR.items() if marker in atr), None)


@dataclass(frozen=True)
class ReaderState:
    """One reader as PC/SC reports it now."""

    name: str
    present: bool
    atr: bytes | None
    events: int = 0  # pcsc-lite counts insertions and removals in the upper 16 bits

    @property
    def card(self) -> str | None:
        return identify_atr(self.atr)

    def to_dict(self) -> dict[str, object]:
        return {"reader": self.name, "present": self.present,
                "atr": self.atr.hex() if self.atr else None, "card": self.card}


def _state(name: str, event: int, atr: bytes) -> ReaderState:
    present = bool(event & tp.STATE_PRESENT) and not event & tp.STATE_EMPTY
    return ReaderState(name, present, atr if present and atr else None, (event >> 16) & 0xFFFF)


def snapshot(context: tp.PcscContext) -> dict[str, ReaderState]:
    """Every reader of the context and its card, without waiting."""
    names = context.list_readers()
    if not names:
        return {}
    result = context.get_status_change([(n, tp.STATE_UNAWARE) for n in names], 0) or []
    return {name: _state(name, event, atr) for name, event, atr in result}


def list_readers() -> list[ReaderState]:
    context = tp.PcscContext()
    try:
        return list(snapshot(context).values())
    finally:
        context.release()


class EventKind(str, Enum):
    READER_ADDED = "reader-added"
    READER_REMOVED = "reader-removed"
    CARD_INSERTED = "card-inserted"
    CARD_REMOVED = "card-removed"


@dataclass(frozen=True)
class ReaderEvent:
    kind: EventKind
    reader: str
    atr: bytes | None = None

    def to_dict(self) -> dict[str, object]:
        return {"event": self.kind.value, "reader": self.reader,
                "atr": self.atr.hex() if self.atr else None}


def diff(old: dict[str, ReaderState], new: dict[str, ReaderState]) -> list[ReaderEvent]:
    """Events that turn ``old`` into ``new``: removals first, as they happened first."""
    events: list[ReaderEvent] = []
    for name, state in old.items():
        if name not in new:
            if state.present:
                events.append(ReaderEvent(EventKind.CARD_REMOVED, name, state.atr))
            events.append(ReaderEvent(EventKind.READER_REMOVED, name))
    for name, state in new.items():
        before = old.get(name)
        if before is None:
            events.append(ReaderEvent(EventKind.READER_ADDED, name))
        events += _card_events(before, state)
    return events


def _card_events(before: ReaderState | None, after: ReaderState) -> list[ReaderEvent]:
    was = before is not None and before.present
    # Two or more counted events between looks: the card was swapped while we were away.
    swapped = was and after.present and before is not None and after.events - before.events >= 2
    out = []
    if was and before is not None and (not after.present or swapped or before.atr != after.atr):
        out.append(ReaderEvent(EventKind.CARD_REMOVED, after.name, before.atr))
    if after.present and (not was or swapped or (before is not None and before.atr != after.atr)):
        out.append(ReaderEvent(EventKind.CARD_INSERTED, after.name, after.atr))
    return out


@dataclass
class _Watcher:
    """State of one event stream: the last snapshot and a context that can be rebuilt."""

    poll_ms: int
    retry_s: float
    context: tp.PcscContext | None = None
    known: dict[str, ReaderState] | None = None
    service_lost: bool = False

    def step(self) -> list[ReaderEvent]:
        """Look once (waiting up to poll_ms for a change) and return what changed."""
        if self.service_lost:
            # Report the old readers gone even if pcscd came back before the next look:
            # their handles and card sessions did not survive the restart.
            self.service_lost = False
            events = diff(self.known or {}, {})
            self.known = {}
            return events
        try:
            if self.context is None:
                self.context = tp.PcscContext()
            current = snapshot(self.context)
        except ModuleLoadError:
            return self._lost()
        except (TokenAbsent, TokenNotFound):
            time.sleep(self.retry_s)  # a reader went away mid-look: look again
            return []
        except TokenError:
            # Seen once as "Access denied" (0x8010006A) from a pcscd still starting after a
            # restart: a dead monitor thread is worse than one more reconnect.
            log.warning("PC/SC context failed; treating the service as lost", exc_info=True)
            return self._lost()
        events = diff(self.known or {}, current)
        self.known = current
        if not events:
            self._wait(current)
        return events

    def _wait(self, current: dict[str, ReaderState]) -> None:
        assert self.context is not None
        states = [(s.name, _current_state(s)) for s in current.values()]
        states.append((tp.PNP_NOTIFICATION, len(current) << 16))
        try:
            self.context.get_status_change(states, self.poll_ms)
        except ModuleLoadError:
            self._drop_context()
            self.service_lost = True
        except (TokenNotFound, TokenAbsent):
            pass  # a reader vanished between listing and waiting: the next look says which
        except TokenError:
            # Anything else from the resource manager: a fresh context is the safe way on.
            log.warning("SCardGetStatusChange failed; new context", exc_info=True)
            self._drop_context()
            self.service_lost = True

    def _lost(self) -> list[ReaderEvent]:
        # pcscd went away (restart, crash): report its readers gone, then retry later.
        self._drop_context()
        events = diff(self.known or {}, {})
        self.known = {}
        if not events:
            time.sleep(self.retry_s)
        return events

    def _drop_context(self) -> None:
        if self.context is not None:
            try:
                self.context.release()
            except Exception:
                log.debug("releasing a dead PC/SC context failed", exc_info=True)
            self.context = None
        log.info("PC/SC service lost; re-establishing the context")

    def close(self) -> None:
        if self.context is not None:
            self.context.release()
            self.context = None


def _current_state(state: ReaderState) -> int:
    flags = tp.STATE_PRESENT if state.present else tp.STATE_EMPTY
    return flags | (state.events << 16)


def watch(
    *, timeout: float | None = None, stop: threading.Event | None = None,
    initial: bool = True, poll_ms: int = 200, retry_s: float = 0.2,
) -> Generator[ReaderEvent, None, None]:
    """Reader and card events, as they happen, for ``timeout`` seconds (None: until ``stop``).

    With ``initial`` the readers and cards already there come first as added/inserted.
    When pcscd stops, its readers are reported removed and the stream keeps trying to
    reconnect, so a restarted pcscd shows up as readers added again.
    """
    watcher = _Watcher(poll_ms=poll_ms, retry_s=retry_s)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        if not initial:
            watcher.step()
        while not (stop is not None and stop.is_set()):
            if deadline is not None and time.monotonic() >= deadline:
                return
            yield from watcher.step()
    finally:
        watcher.close()


class ReaderMonitor:
    """Calls ``callback(event)`` from a background thread for every reader/card event."""

    def __init__(
        self, callback: Callable[[ReaderEvent], None], *, initial: bool = True,
        poll_ms: int = 200,
    ) -> None:
        self.callback = callback
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(initial, poll_ms), name="sitoken-pcsc-monitor", daemon=True
        )

    def start(self) -> ReaderMonitor:
        self._thread.start()
        return self

    def _run(self, initial: bool, poll_ms: int) -> None:
        for event in watch(stop=self._stop, initial=initial, poll_ms=poll_ms):
            try:
                self.callback(event)
            except Exception:
                log.exception("reader event callback failed")

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to finish; it does within one poll interval."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def __enter__(self) -> ReaderMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
