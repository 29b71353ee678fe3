"""The only module that imports pyscard: a PC/SC context and a card connection speaking bytes."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from smartcard import scard

from ..errors import ModuleLoadError, TokenAbsent, TokenError, TokenNotFound

# Reader state bits, re-exported so that the rest of sitoken.pcsc never imports pyscard.
STATE_UNAWARE: int = scard.SCARD_STATE_UNAWARE
STATE_CHANGED: int = scard.SCARD_STATE_CHANGED
STATE_UNKNOWN: int = scard.SCARD_STATE_UNKNOWN
STATE_UNAVAILABLE: int = scard.SCARD_STATE_UNAVAILABLE
STATE_EMPTY: int = scard.SCARD_STATE_EMPTY
STATE_PRESENT: int = scard.SCARD_STATE_PRESENT
STATE_MUTE: int = scard.SCARD_STATE_MUTE
PNP_NOTIFICATION = "\\\\?PnP?\\Notification"

# The card left (or never was there): the caller sees TokenAbsent, whatever the phase.
_ABSENT = {
    scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_UNPOWERED_CARD,
    scard.SCARD_W_UNRESPONSIVE_CARD, scard.SCARD_E_READER_UNAVAILABLE,
    scard.SCARD_E_NOT_TRANSACTED, scard.SCARD_W_RESET_CARD, scard.SCARD_E_COMM_DATA_LOST,
}
# F_COMM_ERROR ("RPC transport error") is what a client sees when pcscd dies under it.
_NO_SERVICE = {scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_F_COMM_ERROR}
_NOT_FOUND = {scard.SCARD_E_UNKNOWN_READER}
#: Context-level codes after which a new context is the only way forward (pcscd restarted).
CONTEXT_LOST = frozenset(_NO_SERVICE | {scard.SCARD_E_INVALID_HANDLE})


def _u32(hr: int) -> int:
    return hr & 0xFFFFFFFF


class PcscServiceError(ModuleLoadError):
    """The PC/SC service (pcscd) is not reachable, or went away."""

    code = "pcsc-service"


def check(hr: int, what: str) -> None:
    """Turn a PC/SC return code into sitoken's error, keeping the code in the message."""
    if hr == scard.SCARD_S_SUCCESS:
        return
    text = f"{what}: {scard.SCardGetErrorMessage(hr)} (0x{_u32(hr):08X})"
    if hr in _ABSENT:
        raise TokenAbsent(text)
    if hr in _NO_SERVICE or hr == scard.SCARD_E_INVALID_HANDLE:
        raise PcscServiceError(text)
    if hr in _NOT_FOUND:
        raise TokenNotFound(text)
    raise TokenError(text)


@dataclass
class PcscContext:
    """A PC/SC resource-manager context: list readers, wait for reader state changes."""

    handle: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        hr, self.handle = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        check(hr, "SCardEstablishContext")

    def list_readers(self) -> list[str]:
        hr, readers = scard.SCardListReaders(self.handle, [])
        if hr == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        check(hr, "SCardListReaders")
        return list(readers)

    def get_status_change(
        self, states: list[tuple[str, int]], timeout_ms: int
    ) -> list[tuple[str, int, bytes]] | None:
        """New (reader, event state, ATR) for each reader; None when nothing changed in time."""
        hr, result = scard.SCardGetStatusChange(self.handle, timeout_ms, states)
        if hr == scard.SCARD_E_TIMEOUT:
            return None
        check(hr, "SCardGetStatusChange")
        return [(name, int(event), bytes(atr)) for name, event, atr in result]

    def cancel(self) -> None:
        """Wake a thread blocked in get_status_change (pyscard releases the GIL there)."""
        if self.handle is not None:
            scard.SCardCancel(self.handle)

    def release(self) -> None:
        if self.handle is not None:
            scard.SCardReleaseContext(self.handle)
            self.handle = None


class PcscConnection:
    """A shared connection to the card in one reader: ``send_and_receive(apdu) -> (data, sw)``."""

    def __init__(self, reader: str) -> None:
        self.reader = reader
        self._context = PcscContext()
        try:
            hr, self._card, self._protocol = scard.SCardConnect(
                self._context.handle, reader, scard.SCARD_SHARE_SHARED,
                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
            )
            check(hr, f"SCardConnect({reader})")
        except BaseException:
            self._context.release()
            raise

    @property
    def atr(self) -> bytes:
        """The card's answer to reset (its historical bytes announce extended length)."""
        return self._status_atr()

    def check_present(self) -> None:
        """TokenAbsent when the card left (or was reset) since connecting; asks pcscd, not the card."""
        self._status_atr()

    def _status_atr(self) -> bytes:
        if self._card is None:
            raise TokenAbsent(f"connection to {self.reader} is closed")
        # SCardStatus fails with REMOVED_CARD / RESET_CARD once the card is not ours any more.
        hr, _reader, _state, _protocol, atr = scard.SCardStatus(self._card)
        check(hr, "SCardStatus")
        return bytes(atr)

    def send_and_receive(self, apdu: bytes | bytearray) -> tuple[bytes, int]:
        if self._card is None:
            raise TokenAbsent(f"connection to {self.reader} is closed")
        hr, response = scard.SCardTransmit(self._card, self._protocol, list(apdu))
        check(hr, "SCardTransmit")
        if len(response) < 2:
            # vpcd reports success with no bytes when the card process dies mid-APDU;
            # pcscd notices the removal only on its next poll. A mute card is gone for us.
            raise TokenAbsent(f"no response from the card in {self.reader}: removed or mute")
        return bytes(response[:-2]), (response[-2] << 8) | response[-1]

    def close(self) -> None:
        """Disconnect and release the context; idempotent, never raises on a gone card."""
        if self._card is not None:
            scard.SCardDisconnect(self._card, scard.SCARD_LEAVE_CARD)
            self._card = None
        self._context.release()

    def __enter__(self) -> PcscConnection:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
