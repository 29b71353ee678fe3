"""PC/SC driver: readers, APDUs, and the OpenPGP card application (pyscard only in transport)."""

from __future__ import annotations

from importlib.util import find_spec
from typing import TYPE_CHECKING

from ..errors import TokenAbsent, TokenNotFound
from ..pin import PinPolicy
from .apdu import SW_OK, Exchange

if TYPE_CHECKING:
    from .openpgp import OpenPgpCard

# Everything that needs pyscard is imported inside the functions: ``import sitoken.pcsc``
# must work without it, so that callers can ask ``available()`` first.


def available() -> bool:
    """True when pyscard (the optional PC/SC dependency) is installed."""
    return find_spec("smartcard") is not None


def reader_names() -> list[str]:
    """The readers PC/SC lists now, in its order (the order of ``sitoken readers``)."""
    from .readers import list_readers

    return [state.name for state in list_readers()]


def resolve_reader(selector: str, names: list[str] | None = None) -> str:
    """A reader by exact name, else by index (``0`` is the first listed), else by unique substring."""
    names = reader_names() if names is None else names
    if selector in names:
        return selector
    if selector.isdigit() and int(selector) < len(names):
        return names[int(selector)]
    matches = [n for n in names if selector.lower() in n.lower()]
    if len(matches) == 1:
        return matches[0]
    listed = ", ".join(repr(n) for n in names) or "none"
    if matches:
        raise TokenNotFound(f"several readers match {selector!r}: {listed}; give the exact name or index")
    raise TokenNotFound(f"no PC/SC reader matches {selector!r} (readers: {listed})")


def open_card(reader_selector: str, policy: PinPolicy | None = None) -> OpenPgpCard:
    """The OpenPGP card in the reader chosen by name, index or unique substring."""
    from .openpgp import OpenPgpCard

    return OpenPgpCard.open(resolve_reader(reader_selector), policy=policy)


def open_card_by_serial(serial: str, policy: PinPolicy | None = None) -> OpenPgpCard:
    """The card whose serial is ``serial``, in whichever reader it sits."""
    from .readers import list_readers

    present = [s.name for s in list_readers() if s.present]
    found = [card for name in present if (card := _card_with_serial(name, serial, policy))]
    if len(found) == 1:
        return found[0]
    for card in found:
        card.close()
    where = ", ".join(repr(n) for n in present) or "no reader holds a card"
    if found:
        raise TokenNotFound(f"{len(found)} cards have serial {serial!r} ({where}); use --token pcsc:READER")
    raise TokenNotFound(f"no card in a PC/SC reader has serial {serial!r} (searched: {where})")


def _card_with_serial(reader: str, serial: str, policy: PinPolicy | None) -> OpenPgpCard | None:
    from .openpgp import OpenPgpCard

    try:
        card = OpenPgpCard.open(reader, policy=policy)
    except (TokenAbsent, TokenNotFound):
        return None  # pulled out meanwhile, or not an OpenPGP card
    try:
        if serial.lower() in card.serials():
            return card
    except BaseException:
        card.close()
        raise
    card.close()
    return None


def send_apdus(reader_selector: str, commands: list[bytes]) -> list[Exchange]:
    """Send whole command APDUs in order; stop after the first answer that is not 9000.

    Long data is chained (or sent extended when the command is), ``61xx`` is fetched
    with GET RESPONSE and ``6Cxx`` resent, as for every command sitoken sends; PIN data
    shows only as a byte count in the traffic log and in ``Exchange.to_dict``.
    """
    from .apdu import ApduSession, CommandApdu
    from .transport import PcscConnection

    parsed = [CommandApdu.decode(raw) for raw in commands]  # all checked before any is sent
    exchanges: list[Exchange] = []
    with PcscConnection(resolve_reader(reader_selector)) as connection:
        session = ApduSession(connection, extended=any(c.extended for c in parsed))
        for command in parsed:
            data, sw = session.transceive(command)
            exchanges.append(Exchange(command, data, sw))
            if sw != SW_OK:
                break
    return exchanges
