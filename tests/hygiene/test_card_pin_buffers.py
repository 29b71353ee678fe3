"""PINs reach the OpenPGP card from wiped buffers, never from copies in ``bytes``.

The card is the emulated OpenPGP card behind the bed's pcscd, reached through the real PC/SC
connection; the only addition is a pass-through that keeps each command buffer it forwards.
``Pin.reveal`` (the one way to get a PIN as ``bytes``) is made to fail for the whole test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from testbed.pcsc_bed import PcscBed

from sitoken.pcsc.apdu import INS_CHANGE_REFERENCE_DATA, INS_RESET_RETRY_COUNTER, INS_VERIFY
from sitoken.pcsc.openpgp import OpenPgpCard
from sitoken.pcsc.transport import PcscConnection
from sitoken.pin import Pin

pytestmark = pytest.mark.pcsc

FACTORY_USER, FACTORY_ADMIN = "123456", "12345678"
PIN_INS = {INS_VERIFY, INS_CHANGE_REFERENCE_DATA, INS_RESET_RETRY_COUNTER}


class Keeping:
    """The real connection, keeping every buffer handed to it (to look at after the call)."""

    def __init__(self, inner: PcscConnection) -> None:
        self.inner = inner
        self.sent: list[tuple[bytes, bytes | bytearray]] = []  # (header as sent, the buffer itself)

    def send_and_receive(self, apdu: bytes | bytearray) -> tuple[bytes, int]:
        # CLA INS P1 P2 and whether data follows (short or extended Lc): no PIN in it.
        self.sent.append((bytes(apdu[:4]) + bytes([len(apdu) > 5]), apdu))
        return self.inner.send_and_receive(apdu)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _no_reveal(self: Pin) -> bytes:
    raise AssertionError("a PIN was copied to bytes on its way to the card")


def test_pin_commands_are_sent_from_buffers_wiped_after_use(
        card: Path, pcsc_bed: PcscBed, monkeypatch: pytest.MonkeyPatch) -> None:
    connection = Keeping(PcscConnection(pcsc_bed.reader_name(0)))
    token = OpenPgpCard(connection, pcsc_bed.reader_name(0))
    try:
        monkeypatch.setattr(Pin, "reveal", _no_reveal)
        token.login(Pin(FACTORY_USER), force=True)
        token.change_pin(Pin(FACTORY_USER), Pin("k7wq2mz9"))
        token.reset_pin(Pin(FACTORY_ADMIN), Pin("p3nd8qrx"))
        token.change_so_pin(Pin(FACTORY_ADMIN), Pin("adm1n7Qz9"))
        token.init_token(Pin("adm1n7Qz9"), "wiped-test")
    finally:
        token.close()
    with_pin = [(head, raw) for head, raw in connection.sent if len(head) == 5 and head[1] in PIN_INS and head[4]]
    # VERIFY 81, CHANGE PW1, VERIFY 83 + RESET, CHANGE PW3, VERIFY 83 (init), factory VERIFY + CHANGE PW3
    assert len(with_pin) >= 8, [head.hex() for head, _ in with_pin]
    for head, raw in with_pin:
        assert isinstance(raw, bytearray), f"PIN command {head.hex()} went out as {type(raw).__name__}"
        assert not any(raw), f"PIN command {head.hex()} was not wiped after it was sent"
    others = [raw for head, raw in connection.sent if not (len(head) == 5 and head[1] in PIN_INS and head[4])]
    assert others and all(isinstance(raw, bytes) for raw in others)  # only PIN commands are special
