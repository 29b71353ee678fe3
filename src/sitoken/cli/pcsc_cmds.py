"""CLI: PC/SC readers, card events, and raw APDUs for integrators."""

from __future__ import annotations

import datetime
import json

import click

from .. import pcsc
from ..errors import InvalidInput, ModuleLoadError
from ..pcsc.apdu import Exchange, error_for_sw
from . import exitcodes
from .common import emit, json_option, state


def _require_pcsc() -> None:
    # pyscard is optional: without it the commands exist but say what is missing (exit 11).
    if not pcsc.available():
        raise ModuleLoadError("PC/SC support is not installed: pip install 'sitoken[pcsc]' (pyscard)")


@click.command("readers")
@json_option
def readers() -> None:
    """List PC/SC readers: card present, ATR, and the card's name where sitoken knows it.

    \b
    Examples:
      sitoken readers
      sitoken readers --json
      sitoken pin status --token pcsc:0        # the card in the first reader listed
    """
    _require_pcsc()
    from ..pcsc.readers import list_readers

    states = list_readers()
    emit([{"index": i, **s.to_dict()} for i, s in enumerate(states)],
         lambda: "\n".join(_reader_line(i, s.to_dict()) for i, s in enumerate(states)) or "no readers")


def _reader_line(index: int, reader: dict[str, object]) -> str:
    if not reader["present"]:
        return f"{index}: {reader['reader']}: empty"
    return f"{index}: {reader['reader']}: {reader['card'] or 'unknown card'} (ATR {reader['atr']})"


@click.command("watch")
@click.option("--timeout", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many events.")
@click.option("--no-initial", is_flag=True, help="Do not report the readers and cards already there.")
@json_option
def watch(timeout: float | None, count: int | None, no_initial: bool) -> None:
    """Print reader and card events as they happen, until --timeout, --count or Ctrl-C.

    With --json, one JSON object per line and per event: event (reader-added,
    reader-removed, card-inserted, card-removed), reader, atr, card, time.

    \b
    Examples:
      sitoken watch
      sitoken watch --json --count 2 --no-initial    # wait for one card swap
    """
    _require_pcsc()
    from ..pcsc.readers import identify_atr
    from ..pcsc.readers import watch as events

    seen = 0
    stream = events(timeout=timeout, initial=not no_initial)
    try:
        for event in stream:
            record = {**event.to_dict(), "card": identify_atr(event.atr), "time": _now()}
            click.echo(json.dumps(record, sort_keys=True) if state().json else _event_line(record))
            seen += 1
            if count is not None and seen >= count:
                break
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a watch ends: not a failure
    finally:
        stream.close()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def _event_line(record: dict[str, object]) -> str:
    card = f"  {record['card'] or record['atr']}" if record["atr"] else ""
    return f"{record['time']}  {record['event']:<14} {record['reader']}{card}"


@click.command("apdu")
@click.argument("commands", nargs=-1, required=True, metavar="HEX [HEX...]")
@click.option("--reader", required=True, help="Reader: exact name, index, or a unique part of the name.")
@json_option
def apdu(commands: tuple[str, ...], reader: str) -> None:
    """Send command APDUs to the card in a reader, in order, and show the answers.

    Stops after the first answer that is not 9000 and exits with the status that
    status word maps to. The data of PIN commands is shown as a byte count.

    \b
    Examples:
      sitoken apdu --reader 0 00A4040006D27600012401 00CA006E00
      sitoken apdu --reader "Virtual PCD 00 00" --json 00CA006500
    """
    _require_pcsc()
    exchanges = pcsc.send_apdus(reader, [_hex(c) for c in commands])
    emit({"reader": reader, "exchanges": [e.to_dict() for e in exchanges]},
         lambda: "\n".join(_exchange_lines(e) for e in exchanges))
    last = exchanges[-1]
    if not last.ok:
        click.get_current_context().exit(exitcodes.for_error(error_for_sw(last.sw, "APDU")))


def _hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text.replace(":", "").replace(" ", ""))
    except ValueError:
        raise InvalidInput(f"{text!r} is not a hexadecimal APDU") from None


def _exchange_lines(exchange: Exchange) -> str:
    d = exchange.to_dict()
    response = f"{d['response']} " if d["response"] else ""
    return f">> {d['command']}\n<< {response}SW={d['sw']}"


PCSC_COMMANDS = (readers, watch, apdu)
