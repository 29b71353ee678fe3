"""``sitoken bench``: signatures/s by signing path, threads and load, on a temporary token."""

from __future__ import annotations

import json

import click

from ..bench import format_report, run_bench
from ..token import KeyType
from .common import state


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
              help="Comma-separated key types (default: all): "
              + ",".join(k.value for k in KeyType))
@click.option("--threads", metavar="LIST", help="Thread counts to try (default: 1,<CPU count>).")
@click.option("--json", "json_", is_flag=True, help="Print one JSON document.")
def bench(seconds: float, key_types: str | None, threads: str | None, json_: bool) -> None:
    """Measure signing speed: Python per-call, native batch and the bare C loop.

    Each path runs alone and next to a busy pure-Python thread. The token is
    created in a temporary SoftHSM store and removed afterwards.

    \b
    Examples:
      sitoken bench
      sitoken bench --seconds 0.5 --key-types ec-p256,rsa2048 --json
    """
    as_json = json_ or state().json
    progress = None if as_json else (lambda line: click.echo(line, err=True))
    report = run_bench(seconds=seconds, key_types=_key_types(key_types),
                       threads=_threads(threads), progress=progress)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else format_report(report))
