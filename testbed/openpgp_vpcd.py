"""Card process of the PC/SC test bed: the emulated OpenPGP card, plugged into vpcd.

Runs in the emulator venv (PyPI ``smartcard-app-openpgp``), never in the project venv:
python-smartcard and pyscard both own the top-level package ``smartcard``.
It imports nothing from sitoken; the test bed starts it as a separate process
(starting it = inserting the card, stopping it = removing the card).

vpcd protocol: every message is a 2-byte big-endian length and a payload. A 1-byte
payload is a control message (0 power off, 1 power on, 2 reset, 4 send ATR);
anything longer is a command APDU, answered with data + SW.

With ``--apdu-log FILE`` every command APDU the card receives (GET RESPONSE included)
is appended to FILE as one line ``CLA INS P1 P2 SIZE`` before it is answered: the bed's
own count of round trips, which tests and ``sitoken bench --card`` read. Only the
header and the size are written, never the data (VERIFY carries a PIN).
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import struct
import sys
import time
from typing import Any

import ZODB
import ZODB.FileStorage
from smartcard import MASTER_FILE_IDENTIFIER, Card  # python-smartcard, not pyscard
from smartcard.app.openpgp import OpenPGP
from smartcard.app.openpgp.tag import CardholderCertificate
from smartcard.status import RecordNotFound
from smartcard.utils import transaction_manager

SW_OK = b"\x90\x00"
SW_WRONG_P1P2 = b"\x6a\x86"
SW_WRONG_DATA = b"\x6a\x80"
INS_SELECT_DATA = 0xA5
# SELECT DATA names DO 7F21 by a tag list: 60 04 (5C 02 7F 21). OpenPGP card 3.x keeps
# three cardholder certificates, occurrence 0 = AUT key, 1 = DEC key, 2 = SIG key.
SELECT_CERTIFICATE = bytes.fromhex("6004" "5C027F21")
CERTIFICATE_OCCURRENCES = 3
CONTROL_ATR = 4
CONTROL_POWER = (0, 1, 2)


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--db", help="ZODB FileStorage with the card state; in memory if absent")
    ap.add_argument("--serial", default="00000001", help="AID serial, 8 hex digits")
    ap.add_argument("--manufacturer", default="fffe", help="AID manufacturer, 4 hex digits")
    ap.add_argument("--connect-timeout", type=float, default=10.0)
    ap.add_argument("--keygen-timeout", type=float, default=20.0)
    ap.add_argument("--apdu-log", help="append CLA INS P1 P2 SIZE of every command APDU here")
    ap.add_argument("-v", action="store_true", help="debug log of the emulator")
    return ap.parse_args(argv)


def open_card(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The card (and its OpenPGP application) from the db, made blank on first use."""
    storage = ZODB.FileStorage.FileStorage(args.db) if args.db else None  # None = in memory
    db = ZODB.DB(storage)
    conn = db.open(transaction_manager=transaction_manager)
    root = conn.root
    if not hasattr(root, "card"):
        with transaction_manager:
            card = root.card = Card(name=b"sitoken-openpgp")
            # A fixed manufacturer/serial: tests and QA can predict the AID and token serial.
            app = root.app = OpenPGP(
                identifier=b"\x12\x34",  # its file id under the MF
                manufacturer=bytes.fromhex(args.manufacturer),
                serial=bytes.fromhex(args.serial),
            )
            app.activateSelf()
            card.createFile(card.traverse((MASTER_FILE_IDENTIFIER,)), app)
    return db, conn, root


def wait_for_key_pool(app: Any, timeout: float) -> None:
    """Wait until the emulator's background key generator has a key ready for every slot.

    Without this the first GENERATE after insertion can fail with "key not ready yet".
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pool = getattr(app, "_v_s_keygen_key_list", None)
        if pool is not None and all(key is not None for key in pool):
            return
        time.sleep(0.02)
    logging.warning("key pool not full after %.1fs; inserting the card anyway", timeout)


def connect(host: str, port: int, timeout: float) -> socket.socket:
    """Connect to vpcd, retrying while pcscd is still loading the driver (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = socket.create_connection((host, port), timeout=2.0)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        # vpcd writes length and APDU separately: with Nagle on its side and delayed ACK
        # on ours every APDU would stall ~40 ms. QUICKACK is not sticky, so re-arm it.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack("!H", len(payload)) + bytes(payload))


def command_data(body: bytes) -> bytes:
    """The data field after the header: short Lc (1 byte) or extended Lc (00 + 2 bytes)."""
    if len(body) >= 3 and body[0] == 0:
        size, start = int.from_bytes(body[1:3], "big"), 3
    elif body:
        size, start = body[0], 1
    else:
        return b""
    return body[start : start + size]


class CardSide:
    """The card as vpcd sees it: control messages, APDUs, SELECT DATA, the APDU log."""

    def __init__(self, card: Any, app: Any, apdu_log: str | None = None) -> None:
        self.card = card
        self.app = app
        self.log = open(apdu_log, "a", buffering=1) if apdu_log else None  # noqa: SIM115

    def answer(self, msg: bytes) -> bytes | None:
        """The response to one vpcd message, or None for control messages needing none."""
        if len(msg) == 1:
            if msg[0] == CONTROL_ATR:
                return bytes(self.card.getATR())
            if msg[0] in CONTROL_POWER:
                with transaction_manager:
                    self.card.clearVolatile()
            return None
        if self.log is not None:
            # Written (line-buffered) before the answer leaves: once a client has its
            # response, the line is in the file.
            self.log.write(f"{bytes(msg[:4]).hex(' ').upper()} {len(msg)}\n")
        if len(msg) >= 4 and msg[1] == INS_SELECT_DATA:
            return self.select_data(msg)
        return bytes(self.card.runAPDU(bytearray(msg)))

    def select_data(self, msg: bytes) -> bytes:
        """SELECT DATA (OpenPGP card 3.x): pick the occurrence of DO 7F21 that GET/PUT DATA use.

        python-smartcard keeps occurrences per data object and a per-channel index into
        them, but has no SELECT DATA: this sets that index, so a certificate written
        after selecting occurrence 2 is only read back by selecting occurrence 2.
        """
        occurrence, p2 = msg[2], msg[3]
        if p2 != 0x04 or occurrence >= CERTIFICATE_OCCURRENCES:
            return SW_WRONG_P1P2
        if command_data(bytes(msg[4:])) != SELECT_CERTIFICATE:
            return SW_WRONG_DATA
        with transaction_manager:
            self._make_occurrences()
            channel = self.card._v_s_channel_list[msg[0] & 0x03]
            channel.setDataObjectIndex(tag=CardholderCertificate, index=occurrence)
        return SW_OK

    def _make_occurrences(self) -> None:
        # An occurrence PUT DATA can write must exist (the emulator only replaces or
        # appends); empty ones read back as an empty DO, as on a fresh card.
        for index in range(CERTIFICATE_OCCURRENCES):
            try:
                present = self.app.getData(tag=CardholderCertificate, index=index) is not None
            except RecordNotFound:
                present = False
            if not present:
                self.app.putData(tag=CardholderCertificate, value=b"", index=index)


def serve(sock: socket.socket, side: CardSide) -> None:
    while True:
        (n,) = struct.unpack("!H", recv_exact(sock, 2))
        reply = side.answer(recv_exact(sock, n))
        if reply is not None:
            send(sock, reply)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if args.v else logging.WARNING)
    # SIGTERM = card removal: leave through finally so the ZODB file is closed cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    db, conn, root = open_card(args)
    try:
        wait_for_key_pool(root.app, args.keygen_timeout)
        sock = connect(args.host, args.port, args.connect_timeout)
        print("card ready", flush=True)
        serve(sock, CardSide(root.card, root.app, args.apdu_log))
    except (EOFError, ConnectionResetError, BrokenPipeError):
        pass  # vpcd went away: pcscd stopped
    finally:
        conn.close()
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
