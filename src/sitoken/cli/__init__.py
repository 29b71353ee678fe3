"""The sitoken command line: parses, prompts, formats, and maps errors to exit codes."""

from __future__ import annotations

import json
import os
import sys
import traceback

import click

from .. import __version__
from ..errors import SitokenError
from . import exitcodes
from .admin_cmds import doctor, sim_group
from .cert_cmds import ca_group, cert_group, csr
from .common import selection_options, state
from .key_cmds import key_group
from .provision_cmds import PROVISION_COMMANDS
from .sign_cmds import sign, verify
from .token_cmds import pin_group, token_group, tokens

EPILOG = "Exit statuses: " + "; ".join(f"{code} {text}" for code, text in exitcodes.DESCRIPTIONS.items())


class SitokenGroup(click.Group):
    """The root group: every failure leaves through here with its documented exit status."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SitokenError as exc:
            ctx.exit(_fail(exitcodes.for_error(exc), exc.to_dict(), str(exc)))
        except click.exceptions.Abort:
            ctx.exit(_fail(exitcodes.ABORTED, {"error": "aborted"}, "aborted"))
        return None


@click.group(cls=SitokenGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sitoken")
@selection_options
def cli() -> None:
    """sitoken: drive USB-Key tokens (PKCS#11 modules and PC/SC cards).

    With no --module and no SITOKEN_MODULE, sitoken uses its simulated
    token store (SoftHSM), so everything can be tried without hardware.

    \b
    First steps:
      sitoken sim create demo
      sitoken key generate --token demo --type ec-p256 --label k1
      sitoken sign --token demo --key k1 --in file.txt --out file.sig
      sitoken verify --token demo --key k1 --in file.txt --sig file.sig
    """


for command in (tokens, token_group, pin_group, key_group, sign, verify, csr, cert_group, ca_group, doctor, sim_group,
                *PROVISION_COMMANDS):
    cli.add_command(command)


def _register_optional() -> None:
    """Commands that live with optional layers (benchmark, certificates, provisioning, PC/SC)."""
    # PC/SC commands are always listed: without pyscard they say so (exit 11) instead of vanishing.
    from .pcsc_cmds import PCSC_COMMANDS

    for pcsc_command in PCSC_COMMANDS:
        cli.add_command(pcsc_command)
    try:
        from .bench_cmd import bench
    except ImportError:
        return
    cli.add_command(bench)


_register_optional()


def _fail(status: int, payload: dict[str, object], message: str) -> int:
    if _json_requested():
        click.echo(json.dumps({**payload, "exit_code": status}, ensure_ascii=False, sort_keys=True))
    click.echo(f"error: {message}", err=True)
    return status


def _json_requested() -> bool:
    try:
        return state().json
    except RuntimeError:
        return "--json" in sys.argv


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the CLI and returns its documented exit status."""
    try:
        # Without standalone mode click returns ctx.exit()'s status instead of exiting.
        status = cli.main(args=argv, prog_name="sitoken", standalone_mode=False)
    except click.exceptions.Abort:
        return _fail(exitcodes.ABORTED, {"error": "aborted"}, "aborted")
    except click.ClickException as exc:
        exc.show()
        return exitcodes.USAGE if isinstance(exc, click.UsageError) else exc.exit_code
    except KeyboardInterrupt:
        return _fail(exitcodes.ABORTED, {"error": "aborted"}, "interrupted")
    except Exception as exc:  # a bug: say so plainly, keep the traceback for the report
        if os.environ.get("SITOKEN_DEBUG"):
            traceback.print_exc()
        message = f"internal error {type(exc).__name__}: {exc} (set SITOKEN_DEBUG=1 for the traceback)"
        return _fail(exitcodes.INTERNAL, {"error": "internal"}, message)
    return status if isinstance(status, int) else exitcodes.OK


def run() -> None:
    sys.exit(main())
