"""How a failed run reports itself: one JSON document on stdout with --json, one line on stderr."""

from __future__ import annotations

import json

import click


def json_requested(argv: list[str]) -> bool:
    """Whether the run asked for --json (read from argv: the failure may predate option parsing)."""
    args = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in args


def fail(status: int, payload: dict[str, object], message: str, as_json: bool) -> int:
    """Report a failure with its exit status; returns the status."""
    if as_json:
        document = {"message": message, **payload, "exit_code": status}
        click.echo(json.dumps(document, ensure_ascii=False, sort_keys=True, default=str))
    click.echo(f"error: {message}", err=True)
    return status
