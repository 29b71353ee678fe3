"""A bed's servers end with the test run that started them, however the run ends.

pg_ctl starts postgres as a daemon; pcscd and the p11-kit server run in sessions of their own,
so that a Ctrl-C in the test run does not stop them mid-test. Nothing ties them to the pytest
process, and a bed stops them only at the session's end: a run that is SIGKILLed (a CI timeout,
an OOM kill) would leave them running, each holding its socket, its port and its temporary
directory.

So a bed started for a test run is given a lifeline: a small process that reads a pipe whose
only writer is the run. However the run ends, the kernel closes the writer's end; the lifeline's
read then returns end-of-file and it runs the bed's stop command. PR_SET_PDEATHSIG cannot do
this: postgres is no child of the run (pg_ctl daemonises it), and the signal goes to a direct
child only. A run that stops its bed itself cuts the lifeline (``cut``) so that the command
does not run a second time, later, against a directory another bed may use by then.

Command line (what the lifeline process runs)::

    python -m testbed.lifeline STOP-COMMAND...    # stdin: the pipe
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: How long the stop command may take (a server's fast shutdown, a process group's exit).
STOP_TIMEOUT = 60


class Lifeline:
    """Runs ``stop`` (an argv) when this process ends, unless ``cut`` first."""

    def __init__(self, stop: Sequence[str], log: Path | None = None) -> None:
        # os.pipe's descriptors are not inherited across exec: no other child of the run holds the
        # writer, so end-of-file means this process is gone.
        read, self._write = os.pipe()
        with open(log or os.devnull, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "testbed.lifeline", *stop], stdin=read, stdout=out,
                stderr=subprocess.STDOUT, cwd=PROJECT_ROOT,
                start_new_session=True,  # a Ctrl-C to the run's process group leaves it waiting
            )
        os.close(read)

    def cut(self) -> None:
        """The run stops the bed itself: end the lifeline without its command (idempotent)."""
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
        with contextlib.suppress(OSError):
            os.close(self._write)


def process_state(pid: int) -> str:
    """The state letter of process ``pid`` (``R``, ``S``, ...; ``Z``: it has ended, not yet reaped
    by its parent), or '' when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name (field 2) may hold spaces and parentheses: the state follows the last ')'.
    return stat.rsplit(")", 1)[1].split()[0]


def watch(stop: Sequence[str]) -> int:
    """Wait for end-of-file on stdin, then run ``stop``; SIGTERM ends the wait without it."""
    for name in ("SIGINT", "SIGHUP", "SIGQUIT"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    while sys.stdin.buffer.read(4096):
        pass  # nobody writes; a byte would only be read and ignored
    done = subprocess.run(list(stop), stdin=subprocess.DEVNULL, timeout=STOP_TIMEOUT, check=False)
    return done.returncode


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(watch(sys.argv[1:]))
