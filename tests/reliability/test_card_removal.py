"""A card pulled out in the middle of a signing run, then put back: the work resumes, exactly once.

The signing loop goes through the OpenPGP driver record by record. A second thread pulls the
card (stops the emulator) after some signatures and re-inserts the same card image (same keys,
same PIN state). The loop must see ``TokenAbsent`` (no hang, no other exception), wait for the
card, reopen it, log in again and carry on from the record that failed. At the end every record
id has exactly one signature, and each verifies on the host with the card's public key.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from testbed.pcsc_bed import PcscBed

from sitoken import pubkey
from sitoken.errors import TokenAbsent
from sitoken.pcsc.openpgp import OpenPgpCard
from sitoken.pin import Pin
from sitoken.token import KeyType, Mechanism

pytestmark = pytest.mark.pcsc

PIN, ADMIN = "123456", "12345678"
PULL_AFTER = 12
AFTER_RESUME = 15  # records signed after the card came back, before the run ends
MAX_RECORDS = 5000  # the loop's own bound, should the card never disappear
WAIT_S = 30.0  # bound on every wait for the card; never a timing assertion


def _record(n: int) -> bytes:
    return f"contribution record {n:04d}".encode()


def _reopen(reader: str, deadline: float) -> OpenPgpCard:
    """The card again, once it is back in the reader (bounded by ``deadline``)."""
    while True:
        try:
            card = OpenPgpCard.open(reader)
        except TokenAbsent:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
            continue
        card.login(Pin(PIN))
        return card


def test_signing_resumes_after_the_card_comes_back(pcsc_bed: PcscBed, card: Path) -> None:
    reader = pcsc_bed.reader_name(0)
    with OpenPgpCard.open(reader) as setup:
        setup.login_admin(Pin(ADMIN))
        setup.generate_key(KeyType.RSA2048, "sig")
        spki = setup.public_key_der("sig")

    pulled = threading.Event()
    reinserted = threading.Event()
    bed_errors: list[BaseException] = []

    def pull_and_reinsert() -> None:
        try:
            pulled.wait(WAIT_S)
            pcsc_bed.remove_card(0, wait=False)
            time.sleep(0.5)  # the card stays out while the loop keeps trying
            pcsc_bed.insert_card(0, image=card)
            reinserted.set()
        except BaseException as exc:
            bed_errors.append(exc)

    helper = threading.Thread(target=pull_and_reinsert)
    helper.start()
    signatures: dict[int, list[bytes]] = {}
    state = {"absent": 0, "resumed_at": -1, "n": 0}
    loop_errors: list[BaseException] = []

    def signing_loop() -> None:
        token = _reopen(reader, time.monotonic() + WAIT_S)
        n = 0
        try:
            # Sign until the card has gone and come back and a few more records are done.
            while n < MAX_RECORDS and (state["resumed_at"] < 0 or n < state["resumed_at"] + AFTER_RESUME):
                if n == PULL_AFTER:
                    pulled.set()
                try:
                    signature = token.sign("sig", _record(n), Mechanism.RSA_PKCS_SHA256)
                except TokenAbsent:
                    state["absent"] += 1
                    token.close()
                    token = _reopen(reader, time.monotonic() + WAIT_S)
                    state["resumed_at"] = n
                    continue  # the same record again: it was not signed
                signatures.setdefault(n, []).append(signature)
                n += 1
        except BaseException as exc:  # anything but TokenAbsent fails the test
            loop_errors.append(exc)
        finally:
            state["n"] = n
            token.close()

    loop = threading.Thread(target=signing_loop)
    loop.start()
    loop.join(4 * WAIT_S)
    helper.join(WAIT_S)
    assert not loop.is_alive(), "the signing loop hung after the card was pulled"
    assert not loop_errors, repr(loop_errors[0])
    absent, resumed_at, n = state["absent"], state["resumed_at"], state["n"]
    assert not helper.is_alive() and not bed_errors, bed_errors
    assert reinserted.is_set()
    assert absent >= 1, "the loop never noticed the card was gone"
    assert resumed_at >= PULL_AFTER
    assert sorted(signatures) == list(range(n)) and n >= resumed_at + AFTER_RESUME, "a record was lost"
    assert all(len(v) == 1 for v in signatures.values()), "a record was signed twice"
    bad = [i for i, (sig,) in signatures.items()
           if not pubkey.verify_host(spki, _record(i), sig, Mechanism.RSA_PKCS_SHA256)]
    assert bad == []
    with OpenPgpCard.open(reader) as after:
        assert after.pin_status().remaining == 3, "reconnecting cost a PIN try"
