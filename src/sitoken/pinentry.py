"""PIN dialogs through a GnuPG pinentry program (pinentry-gnome3, -qt, -curses, -tty) over Assuan."""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import unquote_to_bytes

from .errors import Cancelled, InvalidInput, TimedOut

# The Assuan error code (gpg-error's GPG_ERR_TIMEOUT, low 16 bits) of a dialog that timed out.
_ERR_TIMEOUT = 62


class PinentryDialog:
    """Runs one pinentry per question: ``ask(prompt)`` returns what was typed.

    ``description`` is the dialog's text above the field (the CLI's is "<prompt> for sitoken";
    the web host names the site asking). A closed dialog raises :class:`Cancelled`. With
    ``timeout`` (seconds), the dialog closes itself when nobody answers (pinentry's SETTIMEOUT)
    and :class:`TimedOut` is raised: a program waiting for the holder is not held forever.
    """

    def __init__(self, program: str, timeout: int | None = None) -> None:
        self.program = program
        self.timeout = timeout

    def ask(self, prompt: str, description: str | None = None) -> str:
        try:
            proc = subprocess.Popen([self.program, *self._tty_args()], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except OSError as exc:
            raise InvalidInput(f"cannot run the pinentry program {self.program}: {exc.strerror}") from None
        assert proc.stdin is not None and proc.stdout is not None
        try:
            self._expect_ok(proc)
            for command in ("SETTITLE sitoken", f"SETDESC {_escape(description or prompt + ' for sitoken')}",
                            f"SETPROMPT {_escape(prompt)}:"):
                self._send(proc, command)
                self._expect_ok(proc)
            if self.timeout:
                self._send(proc, f"SETTIMEOUT {self.timeout}")
                self._expect_ok(proc)
            self._send(proc, "GETPIN")
            return self._read_pin(proc)
        finally:
            proc.stdin.close()
            proc.wait(timeout=10)

    def _tty_args(self) -> list[str]:
        # Terminal pinentries draw on the terminal named here, not on their (piped) stdin.
        for stream in (sys.stdin, sys.stderr):
            try:
                return ["--ttyname", os.ttyname(stream.fileno())]
            except (OSError, ValueError, AttributeError):
                continue
        return []

    @staticmethod
    def _send(proc: subprocess.Popen[bytes], command: str) -> None:
        assert proc.stdin is not None
        proc.stdin.write(command.encode("utf-8") + b"\n")
        proc.stdin.flush()

    def _expect_ok(self, proc: subprocess.Popen[bytes]) -> None:
        line = self._line(proc)
        while line.startswith((b"#", b"S ")):
            line = self._line(proc)
        if not line.startswith(b"OK"):
            raise InvalidInput(f"the pinentry program {self.program} answered {line[:60]!r}")

    def _read_pin(self, proc: subprocess.Popen[bytes]) -> str:
        pin = ""
        while True:
            line = self._line(proc)
            if line.startswith(b"D "):
                pin = unquote_to_bytes(line[2:]).decode("utf-8")
            elif line.startswith(b"OK"):
                return pin
            elif line.startswith(b"ERR"):
                if _error_code(line) == _ERR_TIMEOUT:
                    raise TimedOut(f"the PIN dialog ({self.program}) got no answer within {self.timeout} s")
                raise Cancelled(f"the PIN dialog ({self.program}) was closed without a PIN")

    def _line(self, proc: subprocess.Popen[bytes]) -> bytes:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise InvalidInput(f"the pinentry program {self.program} stopped without an answer")
        return line.rstrip(b"\r\n")


def _escape(text: str) -> str:
    """Assuan arguments: %, CR and LF are percent-encoded."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _error_code(line: bytes) -> int | None:
    """The gpg-error code of an ``ERR <number> <text>`` line (its low 16 bits; the rest names the source)."""
    fields = line.split()
    return int(fields[1]) & 0xFFFF if len(fields) > 1 and fields[1].isdigit() else None
