"""Readers and events on the bed: listing, insert/remove order, pcscd restart, mid-op removal."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from testbed.pcsc_bed import PcscBed

from sitoken.errors import TokenAbsent
from sitoken.pcsc import readers
from sitoken.pcsc.openpgp import OpenPgpCard

EventLog = list[tuple[str, str]]


def _collect(events: EventLog, until: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(events) < until and time.monotonic() < deadline:
        time.sleep(0.02)


def test_readers_list_the_card_with_its_atr(pcsc_bed: PcscBed, card: Path) -> None:
    states = {s.name: s for s in readers.list_readers()}
    assert set(pcsc_bed.reader_names) <= set(states)
    first, second = states[pcsc_bed.reader_name(0)], states[pcsc_bed.reader_name(1)]
    assert first.present and first.card == "OpenPGP card (python emulator)"
    assert not second.present and second.atr is None


def test_insert_and_remove_events_arrive_in_order(pcsc_bed: PcscBed, card: Path) -> None:
    reader = pcsc_bed.reader_name(0)
    stream = readers.watch(timeout=15.0, initial=False, poll_ms=100)
    seen: list[tuple[str, str]] = []

    def swap() -> None:
        time.sleep(0.3)
        pcsc_bed.remove_card(0)
        pcsc_bed.insert_card(0, image=card)

    worker = threading.Thread(target=swap)
    worker.start()
    for event in stream:
        seen.append((event.kind.value, event.reader))
        if len(seen) >= 2:
            break
    stream.close()
    worker.join(15)
    assert seen == [("card-removed", reader), ("card-inserted", reader)]


def test_monitor_survives_a_pcscd_restart(pcsc_bed: PcscBed, card: Path) -> None:
    events: EventLog = []
    reader = pcsc_bed.reader_name(0)
    with readers.ReaderMonitor(lambda e: events.append((e.kind.value, e.reader)), initial=False):
        time.sleep(0.3)
        pcsc_bed.restart_pcscd()
        _collect(events, until=6)
        time.sleep(0.3)  # nothing more may follow
    assert events[:3] == [("card-removed", reader), ("reader-removed", reader),
                          ("reader-removed", pcsc_bed.reader_name(1))]
    assert sorted(events[3:5]) == [("reader-added", reader),
                                   ("reader-added", pcsc_bed.reader_name(1))]
    assert events[5:] == [("card-inserted", reader)]


def test_card_removed_mid_operation_gives_token_absent(pcsc_bed: PcscBed, card: Path) -> None:
    token = OpenPgpCard.open(pcsc_bed.reader_name(0))
    outcome: list[BaseException] = []

    def busy() -> None:
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                token.pin_status()
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=busy)
    worker.start()
    time.sleep(0.3)
    pcsc_bed.remove_card(0, wait=False)
    worker.join(10)
    assert not worker.is_alive(), "the operation hung after the card was removed"
    assert len(outcome) == 1 and isinstance(outcome[0], TokenAbsent), outcome
    with pytest.raises(TokenAbsent):
        token.info()
    token.close()
    token.close()  # idempotent after removal
    pcsc_bed.insert_card(0, image=card)
    with OpenPgpCard.open(pcsc_bed.reader_name(0)) as again:
        assert again.pin_status().remaining == 3


def test_opening_an_empty_reader_gives_token_absent(pcsc_bed: PcscBed) -> None:
    with pytest.raises(TokenAbsent):
        OpenPgpCard.open(pcsc_bed.reader_name(1))
