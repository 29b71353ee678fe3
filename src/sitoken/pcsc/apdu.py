"""APDU encoding, command/response chaining, the status-word table and the traffic log."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Protocol

from ..errors import (
    CardError,
    InvalidInput,
    KeyNotFound,
    NotSupported,
    PinError,
    PinIncorrect,
    PinLocked,
    TokenError,
)

log = logging.getLogger("sitoken.apdu")

SW_OK = 0x9000
INS_VERIFY = 0x20
INS_CHANGE_REFERENCE_DATA = 0x24
INS_RESET_RETRY_COUNTER = 0x2C
INS_PUT_DATA = 0xDA
INS_GET_RESPONSE = 0xC0
CLA_CHAINING = 0x10
SHORT_MAX_DATA = 255
EXTENDED_MAX_DATA = 65535
# A card streaming 61xx forever must not hang the caller: 256 chunks is 64 KiB.
MAX_GET_RESPONSE = 256
# Data of these commands is (or holds) a PIN or resetting code: never logged.
_SECRET_INS = frozenset({INS_VERIFY, INS_CHANGE_REFERENCE_DATA, INS_RESET_RETRY_COUNTER})
_SECRET_PUT_DATA = frozenset({0x00D3})  # OpenPGP resetting code


class Connection(Protocol):
    """What the APDU layer needs from a transport (PC/SC, or canned bytes in tests)."""

    def send_and_receive(self, apdu: bytes | bytearray) -> tuple[bytes, int]: ...


@dataclass(frozen=True)
class CommandApdu:
    """One command APDU; ``le`` is the number of response bytes expected (None: no Le)."""

    cla: int
    ins: int
    p1: int
    p2: int
    # A bytearray for PIN commands: the PIN's own buffer, never copied to bytes (see encode).
    data: bytes | bytearray = b""
    le: int | None = None

    def encode(self, extended: bool = False) -> bytes | bytearray:
        """ISO 7816-3 cases 1-4, short or extended (Le 256 / 65536 encode as zeros).

        Data in a bytearray (a PIN's buffer) gives a bytearray, which the session wipes once
        sent: the PIN is never copied into an immutable ``bytes``.
        """
        limit, le_max = (EXTENDED_MAX_DATA, 65536) if extended else (SHORT_MAX_DATA, 256)
        if len(self.data) > limit:
            raise ValueError(f"command data of {len(self.data)} bytes needs chaining")
        if self.le is not None and not 0 < self.le <= le_max:
            raise ValueError(f"Le {self.le} out of range")
        raw = bytearray([self.cla, self.ins, self.p1, self.p2])
        if self.data:
            raw += len(self.data).to_bytes(3 if extended else 1, "big")
        raw += self.data
        if self.le is not None:
            if extended:
                raw += (b"" if self.data else b"\x00") + (self.le % 65536).to_bytes(2, "big")
            else:
                raw.append(self.le % 256)
        return raw if isinstance(self.data, bytearray) else bytes(raw)

    @classmethod
    def decode(cls, raw: bytes) -> CommandApdu:
        """Parse a whole command APDU as an integrator writes it (ISO 7816-3 cases 1-4)."""
        if len(raw) < 4:
            raise InvalidInput(f"a command APDU has at least 4 bytes, not {len(raw)}")
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if body[0] == 0 and len(body) >= 3:
            data, le = _extended_body(body[1:])
        else:
            data, le = _short_body(body)
        return cls(cla, ins, p1, p2, data, le)

    @property
    def extended(self) -> bool:
        return len(self.data) > SHORT_MAX_DATA or (self.le or 0) > 256

    @property
    def secret(self) -> bool:
        if self.ins in _SECRET_INS:
            return True
        return self.ins == INS_PUT_DATA and (self.p1 << 8 | self.p2) in _SECRET_PUT_DATA


def _short_body(body: bytes) -> tuple[bytes, int | None]:
    if len(body) == 1:
        return b"", body[0] or 256  # case 2: Le only
    lc = body[0]
    if len(body) == 1 + lc:
        return body[1:], None  # case 3
    if len(body) == 2 + lc:
        return body[1:-1], body[-1] or 256  # case 4
    raise InvalidInput(f"Lc says {lc} data bytes but the APDU carries {len(body) - 1}")


def _extended_body(body: bytes) -> tuple[bytes, int | None]:
    size = int.from_bytes(body[:2], "big")
    if len(body) == 2:
        return b"", size or 65536  # case 2E
    if len(body) == 2 + size:
        return body[2:], None  # case 3E
    if len(body) == 4 + size:
        return body[2:-2], int.from_bytes(body[-2:], "big") or 65536  # case 4E
    raise InvalidInput(f"extended Lc says {size} data bytes but the APDU carries {len(body) - 2}")


@dataclass(frozen=True)
class Exchange:
    """One command and the card's whole answer, for integrators (the ``apdu`` command)."""

    command: CommandApdu
    data: bytes
    sw: int

    @property
    def ok(self) -> bool:
        return self.sw == SW_OK

    def to_dict(self) -> dict[str, object]:
        # The command as the traffic log shows it: PIN data never leaves as hex.
        return {"command": describe_command(self.command), "response": self.data.hex().upper(),
                "sw": f"{self.sw:04X}"}


# -- status words ------------------------------------------------------------------

_SW_TABLE: dict[int, tuple[type[TokenError], str]] = {
    0x6283: (CardError, "selected application is terminated"),
    0x6581: (CardError, "memory failure"),
    0x6700: (CardError, "wrong length"),
    0x6882: (NotSupported, "secure messaging not supported"),
    0x6883: (CardError, "last command of the chain expected"),
    0x6884: (NotSupported, "command chaining not supported"),
    0x6982: (PinError, "security status not satisfied: verify the PIN first"),
    0x6983: (PinLocked, "PIN is blocked"),
    0x6984: (PinError, "reference data (PIN) not usable"),
    0x6985: (CardError, "conditions of use not satisfied"),
    0x6986: (CardError, "command not allowed"),
    0x6987: (CardError, "secure messaging data objects missing"),
    0x6A80: (CardError, "incorrect data in the command"),
    0x6A81: (NotSupported, "function not supported"),
    0x6A82: (KeyNotFound, "file or application not found"),
    0x6A83: (KeyNotFound, "record (key) not found"),
    0x6A84: (CardError, "not enough memory on the card"),
    0x6A86: (CardError, "incorrect P1-P2"),
    0x6A88: (KeyNotFound, "referenced data not found"),
    0x6B00: (CardError, "wrong parameters P1-P2"),
    0x6D00: (NotSupported, "instruction not supported"),
    0x6E00: (NotSupported, "class not supported"),
    0x6F00: (CardError, "no precise diagnosis"),
}


def pin_error(action: str, remaining: int, sw: int) -> PinIncorrect | PinLocked:
    """The error for a refused PIN with ``remaining`` tries left (0: blocked)."""
    if remaining == 0:
        return PinLocked(f"{action}: wrong PIN, the PIN is blocked (SW {sw:04X})", sw=sw)
    tries = "try" if remaining == 1 else "tries"
    return PinIncorrect(f"{action}: wrong PIN, {remaining} {tries} left (SW {sw:04X})", remaining=remaining, sw=sw)


def error_for_sw(sw: int, action: str = "card command") -> TokenError:
    """The one place a status word becomes an exception; unknown words keep their number."""
    if sw & 0xFFF0 == 0x63C0:
        return pin_error(action, sw & 0x0F, sw)
    cls, text = _SW_TABLE.get(sw, (CardError, "card error"))
    return cls(f"{action}: {text} (SW {sw:04X})", sw=sw)


# -- traffic log -------------------------------------------------------------------


def describe_command(cmd: CommandApdu) -> str:
    """Hex for the log; the data of PIN commands becomes a byte count."""
    head = bytes([cmd.cla, cmd.ins, cmd.p1, cmd.p2]).hex(" ").upper()
    if not cmd.data:
        body = ""
    elif cmd.secret:
        body = f" <{len(cmd.data)} bytes redacted>"
    else:
        body = " " + cmd.data.hex(" ").upper()
    le = f" Le={cmd.le}" if cmd.le is not None else ""
    return head + body + le


def describe_response(data: bytes, sw: int) -> str:
    return (data.hex(" ").upper() + " " if data else "") + f"SW={sw:04X}"


# -- session: the processors -------------------------------------------------------------


class ApduSession:
    """Sends commands over a connection: command chaining, 6Cxx resend, 61xx GET RESPONSE.

    ``extended`` uses extended Lc/Le where the card announces it; otherwise long
    data goes out as a command chain of short APDUs.
    """

    def __init__(self, connection: Connection, *, extended: bool = False) -> None:
        self.connection = connection
        self.extended = extended

    def send(self, cmd: CommandApdu, action: str = "card command") -> bytes:
        """The response data; any status word but 9000 raises through ``error_for_sw``."""
        data, sw = self.transceive(cmd)
        if sw != SW_OK:
            raise error_for_sw(sw, action)
        return data

    def transceive(self, cmd: CommandApdu) -> tuple[bytes, int]:
        """The whole response (chained parts joined) and the last SW; never raises on a SW."""
        data, sw = self._send_chain(cmd)
        return self._get_responses(cmd, data, sw)

    def _send_chain(self, cmd: CommandApdu) -> tuple[bytes, int]:
        size = EXTENDED_MAX_DATA if self.extended else SHORT_MAX_DATA
        if len(cmd.data) <= size:
            return self._exchange(replace(cmd, le=self._fit_le(cmd.le)))  # one APDU: no slice, no copy
        chunks = [cmd.data[i : i + size] for i in range(0, len(cmd.data), size)]
        for chunk in chunks[:-1]:
            part = replace(cmd, cla=cmd.cla | CLA_CHAINING, data=chunk, le=None)
            data, sw = self._exchange(part)
            if sw != SW_OK:
                return data, sw
        return self._exchange(replace(cmd, data=chunks[-1], le=self._fit_le(cmd.le)))

    def _fit_le(self, le: int | None) -> int | None:
        if le is None:
            return None
        return min(le, 65536 if self.extended else 256)

    def _exchange(self, cmd: CommandApdu) -> tuple[bytes, int]:
        """One APDU; a 6Cxx (wrong Le) is answered by resending it once with the exact Le."""
        data, sw = self._transmit(cmd)
        if sw >> 8 == 0x6C:
            data, sw = self._transmit(replace(cmd, le=(sw & 0xFF) or 256))
        return data, sw

    def _get_responses(self, cmd: CommandApdu, data: bytes, sw: int) -> tuple[bytes, int]:
        # pyscard passes 61xx through on T=1; the exact length is asked for because some
        # cards (the OpenPGP emulator) read Le=00 as zero bytes rather than 256.
        parts = [data]
        for _ in range(MAX_GET_RESPONSE):
            if sw >> 8 != 0x61:
                return b"".join(parts), sw
            le = (sw & 0xFF) or 256
            more = CommandApdu(cmd.cla & ~CLA_CHAINING, INS_GET_RESPONSE, 0, 0, le=le)
            data, sw = self._transmit(more)
            parts.append(data)
        raise CardError("card kept answering 61xx: response too long", sw=sw)

    def _transmit(self, cmd: CommandApdu) -> tuple[bytes, int]:
        raw = cmd.encode(self.extended)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(">> %s", describe_command(cmd))
        try:
            data, sw = self.connection.send_and_receive(raw)
        finally:
            if isinstance(raw, bytearray):
                raw[:] = bytes(len(raw))  # a PIN command: nothing of it stays behind
        if log.isEnabledFor(logging.DEBUG):
            log.debug("<< %s", describe_response(data, sw))
        return data, sw
