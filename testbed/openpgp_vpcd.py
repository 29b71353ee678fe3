"""Card process of the PC/SC test bed: the emulated OpenPGP card, plugged into vpcd.

Runs in the emulator venv (PyPI ``smartcard-app-openpgp``), never in the project venv:
python-smartcard and pyscard both own the top-level package ``smartcard``.
It imports nothing from sitoken; the test bed starts it as a separate process
(starting it = inserting the card, stopping it = removing the card).

vpcd protocol: every message is a 2-byte big-endian length and a payload. A 1-byte
payload is a control message (0 power off, 1 power on, 2 reset, 4 send ATR);
anything longer is a command APDU, answered with data + SW.
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
from smartcard.utils import transaction_manager

SW_OK = b"\x90\x00"
INS_SELECT_DATA = 0xA5
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


def answer(card: Any, msg: bytes) -> bytes | None:
    """The response to one vpcd message, or None for control messages needing none."""
    if len(msg) == 1:
        if msg[0] == CONTROL_ATR:
            return bytes(card.getATR())
        if msg[0] in CONTROL_POWER:
            with transaction_manager:
                card.clearVolatile()
        return None
    if len(msg) >= 2 and msg[1] == INS_SELECT_DATA:
        # python-smartcard lacks SELECT DATA; OpenSC 0.23 gives up on the card without it.
        return SW_OK
    return bytes(card.runAPDU(bytearray(msg)))


def serve(sock: socket.socket, card: Any) -> None:
    while True:
        (n,) = struct.unpack("!H", recv_exact(sock, 2))
        reply = answer(card, recv_exact(sock, n))
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
        serve(sock, root.card)
    except (EOFError, ConnectionResetError, BrokenPipeError):
        pass  # vpcd went away: pcscd stopped
    finally:
        conn.close()
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
