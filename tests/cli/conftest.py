"""CLI fixtures: an in-process runner and a real `sitoken` subprocess, both on the SoftHSM bed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from cli_support import Outcome

PINS = {"SO_PIN": "so-pin-2468", "PIN": "user7pin3", "NEW_PIN": "n3wpin88x", "BAD_PIN": "wrong9pin"}




@pytest.fixture()
def cli(softhsm_path: str) -> Callable[..., Outcome]:
    """Run the CLI in-process (click's runner), PINs passed by variable name."""
    from sitoken.cli import cli as group

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Outcome:
        runner = CliRunner()
        result = runner.invoke(group, list(args), input=input, env={**PINS, **(env or {})})
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Outcome(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture()
def sitoken_proc(softhsm_path: str) -> Callable[..., Outcome]:
    """Run `python -m sitoken` as a real process."""

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Outcome:
        done = subprocess.run(
            [sys.executable, "-m", "sitoken", *args], input=input, capture_output=True, text=True,
            env={**os.environ, **PINS, **(env or {})}, timeout=120,
        )
        return Outcome(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture()
def sim_token(cli, request) -> str:  # type: ignore[no-untyped-def]
    """A simulated token created through the CLI itself, named after the test."""
    label = "cli-" + request.node.name[-24:]
    done = cli("sim", "create", label, "--so-pin-env", "SO_PIN", "--pin-env", "PIN")
    assert done.code == 0, done.err
    return label
