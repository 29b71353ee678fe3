"""The click app: parses, prompts, formats, and maps errors to exit codes (every command)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

import click

from .. import __version__
from . import exitcodes
from .common import json_option, selection_options, start_tracing, tracing_options
from .failure import aborted, fail, json_requested, status_for

EPILOG = "Exit statuses: " + "; ".join(f"{code} {text}" for code, text in exitcodes.DESCRIPTIONS.items())

# Command name -> (module of sitoken.cli, attribute). A command's module, and what it needs from the
# library, is imported only when that command runs or its help is shown: `sitoken tokens` does not
# pay for CMS, provisioning or the benchmark (docs/cli.md, "A fast CLI").
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "tokens": ("token_cmds", "tokens"),
    "token": ("token_cmds", "token_group"),
    "pin": ("token_cmds", "pin_group"),
    "key": ("key_cmds", "key_group"),
    "sign": ("sign_cmds", "sign"),
    "sign-batch": ("sign_batch_cmd", "sign_batch"),
    "verify": ("sign_cmds", "verify"),
    "decrypt": ("sm2_cmds", "decrypt"),
    "import-envelope": ("sm2_cmds", "import_envelope"),
    "csr": ("cert_cmds", "csr"),
    "cert": ("cert_cmds", "cert_group"),
    "ca": ("cert_cmds", "ca_group"),
    "doctor": ("admin_cmds", "doctor"),
    "sim": ("admin_cmds", "sim_group"),
    "provision": ("provision_cmds", "provision_group"),
    "batch": ("provision_cmds", "batch"),
    "renew": ("provision_cmds", "renew"),
    "report-loss": ("provision_cmds", "report_loss"),
    "reissue": ("provision_cmds", "reissue"),
    "journal": ("provision_cmds", "journal_group"),
    # PC/SC commands are always listed: without pyscard they say so (exit 11) instead of vanishing.
    "readers": ("pcsc_cmds", "readers"),
    "watch": ("pcsc_cmds", "watch"),
    "apdu": ("pcsc_cmds", "apdu"),
    "bench": ("bench_cmd", "bench"),
    "web": ("web_cmds", "web_group"),
}


class SitokenGroup(click.Group):
    """The root group: loads commands on demand; every outcome leaves through ``main``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in LAZY_COMMANDS:
            return self.commands.get(cmd_name)
        module, attr = LAZY_COMMANDS[cmd_name]
        command = getattr(importlib.import_module(f"{__package__}.{module}"), attr)
        assert isinstance(command, click.Command)
        return command

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        """Run, then map whatever happened to one documented exit status (and one JSON document)."""
        argv = list(sys.argv[1:] if args is None else args)
        try:
            status = super().main(argv, prog_name or "sitoken", complete_var, standalone_mode=False, **extra)
            status = status if isinstance(status, int) else exitcodes.OK
        except BaseException as exc:  # every exit is mapped here, once
            status = _status_for(exc, argv)
        if standalone_mode:
            sys.exit(status)
        return status


def _status_for(exc: BaseException, argv: list[str]) -> int:
    """The one place that turns an exception into an exit status and its error report."""
    as_json = json_requested(argv)
    if isinstance(exc, click.exceptions.Exit):
        return exc.exit_code
    if isinstance(exc, click.exceptions.Abort) and isinstance(exc.__cause__, KeyboardInterrupt):
        exc = exc.__cause__  # click turns Ctrl-C into Abort; it is an interruption, not a refusal
    if isinstance(exc, click.exceptions.Abort):
        return aborted(as_json)
    if isinstance(exc, click.UsageError):
        return _usage_failure(exc, as_json)
    if isinstance(exc, click.ClickException):
        message = exc.format_message()
        return fail(exc.exit_code, {"error": "error", "message": message}, message, as_json)
    return status_for(exc, as_json)


def _usage_failure(exc: click.UsageError, as_json: bool) -> int:
    if as_json:
        payload: dict[str, object] = {"error": "usage", "message": exc.format_message()}
        if exc.ctx is not None:
            payload["command"] = exc.ctx.command_path
        return fail(exitcodes.USAGE, payload, exc.format_message(), True)
    exc.show()
    return exitcodes.USAGE


@click.group(cls=SitokenGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sitoken")
@selection_options
@json_option
@tracing_options
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
    start_tracing()


def run_click(argv: list[str]) -> int:
    """The whole CLI through click; returns the documented exit status."""
    status = cli.main(args=argv, prog_name="sitoken", standalone_mode=False)
    return status if isinstance(status, int) else exitcodes.OK
