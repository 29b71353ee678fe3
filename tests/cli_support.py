"""CLI test helpers shared by the test directories: a run's outcome, and a run on a pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def invoke(args: list[str], env: dict[str, str], input: str | None = None) -> Outcome:
    """The CLI in-process (click's runner); an exception that is not an exit is re-raised."""
    from click.testing import CliRunner

    from sitoken.cli import cli as group

    result = CliRunner().invoke(group, args, input=input, env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr)


def converse(
    args: list[str], answers: list[str], timeout: float = 60, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run sitoken on a pseudo-terminal, typing each answer when a prompt appears."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "sitoken", *args], stdin=slave, stdout=slave,
                            stderr=slave, close_fds=True, env=env)
    os.close(slave)
    seen, pending, deadline = b"", list(answers), time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            seen += chunk
            if pending and chunk.rstrip().endswith(b":"):
                os.write(master, pending.pop(0).encode() + b"\n")
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(master)
    return proc.returncode, seen.decode(errors="replace")


def on_a_terminal(args: list[str], env: dict[str, str], when: bytes,
                  act: Callable[[subprocess.Popen[bytes], int], None], timeout: float = 120) -> tuple[int, bytes, bool]:
    """Run sitoken on a pseudo-terminal; call ``act(process, master)`` once ``when`` shows on the
    screen. Returns the exit status, everything shown, and whether ``act`` ran."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "sitoken", *args], stdin=slave, stdout=slave, stderr=slave,
                            close_fds=True, env=env)
    os.close(slave)
    seen, acted, deadline = b"", False, time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([master], [], [], 0.2)[0]:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
            if not acted and when in seen:
                act(proc, master)
                acted = True
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(master)
    return proc.returncode, seen, acted
