"""``sitoken bench``: signatures/s by signing path, threads and load, on a temporary token."""

from __future__ import annotations

import json
import os
from contextlib import ExitStack

import click

from ..bench import SPEC_KEY_TYPES, BenchReport, Progress, format_report, run_bench
from ..bench_pool import PoolRow, format_pool, pool_rows, run_pool_bench
from ..discovery import open_token
from ..errors import InvalidInput, ModuleLoadError
from ..pkcs11.module import resolve_module
from ..signing.pool import pool_member
from ..token import KeyType
from .common import pin_options, read_pin, state


def _key_types(text: str | None) -> list[KeyType] | None:
    if not text:
        return None
    try:
        return [KeyType(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError:
        names = ", ".join(k.value for k in KeyType)
        raise click.BadParameter(f"key types are: {names}") from None


def _threads(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter("a comma-separated list of thread counts, e.g. 1,2") from None
    if not counts or min(counts) < 1:
        raise click.BadParameter("thread counts are at least 1")
    return counts


@click.command("bench")
@click.option("--seconds", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="Time per cell (10 cells per key type with two thread counts).")
@click.option("--key-types", metavar="LIST",
              help="Comma-separated key types (default: all SoftHSM has): "
              + ",".join(k.value for k in SPEC_KEY_TYPES))
@click.option("--threads", metavar="LIST", help="Thread counts to try (default: 1,<CPU count>).")
@click.option("--pool", type=click.IntRange(min=2), help="N temporary tokens side by side against one of them.")
@click.option("--module", "module", metavar="PATH|NAME", help="Measure an existing token of this module.")
@click.option("--token", "tokens", multiple=True, metavar="LABEL|SERIAL|pkcs11:URI",
              help="An existing token to measure; several: also all of them as a pool against the first.")
@click.option("--key", "selector", help="With --token: the key to sign with (label or id:HEX).")
@click.option("--card", "card", metavar="pcsc:READER",
              help="Count APDUs and time operations on the OpenPGP card in READER, beside OpenSC's pkcs11-tool.")
@click.option("--rounds", type=click.IntRange(min=1), default=5, show_default=True,
              help="With --card: runs per operation (the median is shown).")
@click.option("--signatures", type=click.IntRange(min=1), default=20, show_default=True,
              help="With --card: signatures in one session for the steady-state figure.")
@pin_options("pin", "user PIN")
@click.option("--json", "json_", is_flag=True, help="Print one JSON document.")
def bench(seconds: float, key_types: str | None, threads: str | None, pool: int | None, module: str | None,
          tokens: tuple[str, ...], selector: str | None, card: str | None, rounds: int, signatures: int,
          json_: bool) -> None:
    """Measure signing speed: Python per-call, native batch and the bare C loop.

    Each path runs alone and next to a busy pure-Python thread. By default the
    token is created in a temporary SoftHSM store and removed afterwards; with
    --token and --key an existing token is measured (through p11-kit, say), and
    with --pool N, N temporary tokens sign side by side against one of them.

    \b
    Examples:
      sitoken bench
      sitoken bench --seconds 0.5 --key-types ec-p256,rsa2048 --json
      sitoken bench --pool 2 --key-types rsa2048,ec-p256
      sitoken bench --module /usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so --token remote1 \\
          --token remote2 --key rsa --pin-env PIN
      sitoken bench --card pcsc:0 --pin-env PIN            # APDUs and ms per operation, sitoken vs OpenSC
    """
    as_json = json_ or state().json
    progress = None if as_json else (lambda line: click.echo(line, err=True))
    if card:
        _card(card, rounds, signatures, as_json, progress)
        return
    kinds = _key_types(key_types)
    report: BenchReport | None = None
    rows: tuple[PoolRow, ...] = ()
    if tokens or selector:
        if pool:
            raise click.UsageError("with --token the tokens given form the pool; --pool is for temporary tokens")
        report, rows = _existing(module, tokens, selector, seconds, _threads(threads), progress)
    elif pool:
        rows = run_pool_bench(pool=pool, seconds=seconds, key_types=kinds, progress=progress)
    else:
        report = run_bench(seconds=seconds, key_types=kinds, threads=_threads(threads), progress=progress)
    _print(report, rows, as_json)


def _card(selector: str, rounds: int, signatures: int, as_json: bool, progress: Progress | None) -> None:
    from ..card_bench import format_card_report, run_card_bench
    from ..pcsc import resolve_reader

    reader = resolve_reader(selector.removeprefix("pcsc:"))
    try:
        opensc: str | None = resolve_module("opensc").path
    except ModuleLoadError:
        opensc = None  # measured alone, and the report says so
    with read_pin("pin", "user PIN") as pin:
        report = run_card_bench(reader, pin, rounds=rounds, signatures=signatures, opensc_module=opensc,
                                progress=progress)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else format_card_report(report))


def _existing(module: str | None, tokens: tuple[str, ...], selector: str | None, seconds: float,
              threads: list[int] | None, progress: Progress | None) -> tuple[BenchReport, tuple[PoolRow, ...]]:
    if not tokens or not selector:
        raise click.UsageError("measuring an existing token needs --token and --key")
    with ExitStack() as stack:
        opened = []
        for selection in tokens:
            token = open_token(selection, module=module)
            stack.callback(token.close)
            opened.append(token)
        with read_pin("pin", "user PIN") as pin:
            for token in opened:
                token.login(pin)
        key = pool_member(opened[0], selector).key  # refuses a token that is not PKCS#11
        report = run_bench(seconds=seconds, key_types=[key.key_type], threads=threads,
                           keys={key.key_type: key}, progress=progress)
        if len(opened) < 2:
            return report, ()
        members = [pool_member(t, selector) for t in opened]
        if len({m.key.key_type for m in members}) > 1:
            raise InvalidInput(f"key {selector!r} is not of one type on every token")
        return report, pool_rows({key.key_type: members}, seconds, progress or (lambda _: None))


def _print(report: BenchReport | None, rows: tuple[PoolRow, ...], as_json: bool) -> None:
    if as_json:
        # A pool-only run says how busy the machine was too: its ratios mean little under load.
        doc: dict[str, object] = report.to_dict() if report else {
            "load_average": list(os.getloadavg()[:1]), "cpu_count": os.cpu_count()}
        if rows:
            doc["pool"] = [r.to_dict() for r in rows]
        click.echo(json.dumps(doc, indent=2))
        return
    parts = [format_report(report)] if report else []
    if rows:
        parts.append(format_pool(rows))
    click.echo("\n\n".join(parts))
