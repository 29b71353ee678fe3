"""The CLI's PIN dialog: the library's pinentry client, a closed dialog as a declined prompt."""

from __future__ import annotations

import click

from .. import pinentry
from ..errors import Cancelled


class PinentryDialog(pinentry.PinentryDialog):
    def ask(self, prompt: str, description: str | None = None) -> str:
        try:
            return super().ask(prompt, description)
        except Cancelled:
            # The holder closed the dialog: the same as declining a prompt (exit 14).
            raise click.exceptions.Abort() from None
