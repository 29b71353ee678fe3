"""pcscd restarted (twice) under running event watchers: both keep going and report the readers again.

Two consumers run at once: a ``ReaderMonitor`` (callback thread) and a thread iterating
``readers.watch()``. After each restart both must report the bed's readers removed and added
again, and after the last one a card pulled and put back must still reach both: a watcher that
reconnected but no longer waits for changes would miss it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from testbed.pcsc_bed import PcscBed

from sitoken.pcsc import readers

pytestmark = pytest.mark.pcsc

WAIT_S = 20.0  # bound on every wait; never a timing assertion
Event = tuple[str, str]


class Log:
    """Events seen by one consumer, with a bounded wait for a condition on them."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.lock = threading.Lock()

    def add(self, event: readers.ReaderEvent) -> None:
        with self.lock:
            self.events.append((event.kind.value, event.reader))

    def since(self, mark: int) -> list[Event]:
        with self.lock:
            return self.events[mark:]

    def wait_for(self, mark: int, done: Callable[[list[Event]], bool]) -> list[Event]:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            seen = self.since(mark)
            if done(seen):
                return seen
            time.sleep(0.05)
        return self.since(mark)


def _readers_back(names: tuple[str, ...]) -> Callable[[list[Event]], bool]:
    def done(seen: list[Event]) -> bool:
        return all(("reader-removed", n) in seen and ("reader-added", n) in seen for n in names)

    return done


def test_watchers_survive_pcscd_restarts(pcsc_bed: PcscBed, card: Path) -> None:
    names = pcsc_bed.reader_names
    reader = pcsc_bed.reader_name(0)
    monitor_log, stream_log = Log(), Log()
    stop = threading.Event()

    def consume() -> None:
        for event in readers.watch(stop=stop, initial=False, poll_ms=100):
            stream_log.add(event)

    stream = threading.Thread(target=consume, daemon=True)
    monitor = readers.ReaderMonitor(monitor_log.add, initial=False, poll_ms=100)
    try:
        monitor.start()
        stream.start()
        time.sleep(0.3)  # both are waiting on the live pcscd
        for _ in range(2):
            marks = len(monitor_log.since(0)), len(stream_log.since(0))
            pcsc_bed.restart_pcscd()
            for log, mark in zip((monitor_log, stream_log), marks, strict=True):
                seen = log.wait_for(mark, _readers_back(names))
                assert _readers_back(names)(seen), seen
                removed = seen.index(("reader-removed", reader))
                assert removed < seen.index(("reader-added", reader)), seen
            # The card went out with pcscd and came back in: its return is reported too.
            for log, mark in zip((monitor_log, stream_log), marks, strict=True):
                seen = log.wait_for(mark, lambda s: ("card-inserted", reader) in s)
                assert ("card-inserted", reader) in seen, seen
        marks = len(monitor_log.since(0)), len(stream_log.since(0))
        pcsc_bed.remove_card(0)
        pcsc_bed.insert_card(0, image=card)
        want = [("card-removed", reader), ("card-inserted", reader)]
        for log, mark in zip((monitor_log, stream_log), marks, strict=True):
            seen = log.wait_for(mark, lambda s: s[-2:] == want)
            assert seen == want, seen
    finally:
        monitor.stop()
        stop.set()
        stream.join(WAIT_S)
    assert not stream.is_alive(), "the watch() iterator did not stop"
    assert {s.name for s in readers.list_readers()} >= set(names)
