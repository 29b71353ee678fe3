"""The sitoken command line: ``main`` tries the click-free fast path, else runs the click app.

Nothing here imports click: ``sitoken tokens --json``, a plain ``sign`` and ``verify`` run
through :mod:`sitoken.cli.fast` without it when their arguments are ones it fully understands;
everything else (and any doubt) goes to the click app in :mod:`sitoken.cli.app`, which is
imported only then (docs/cli.md, "A fast CLI").
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ..pin import disable_core_dumps

if TYPE_CHECKING:
    from .app import LAZY_COMMANDS, SitokenGroup, cli

__all__ = ["LAZY_COMMANDS", "SitokenGroup", "cli", "main", "run"]


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the CLI and returns its documented exit status."""
    # Before any PIN is read: no core dump (nor a debugger of the same user) may see one.
    disable_core_dumps()
    args = list(sys.argv[1:] if argv is None else argv)
    from .fast import run_fast

    status = run_fast(args)
    if status is not None:
        return status
    from .app import run_click

    return run_click(args)


def run() -> None:
    sys.exit(main())


def __getattr__(name: str) -> Any:
    # The click app, for tests and tools that drive it in-process (click's CliRunner).
    if name in ("cli", "LAZY_COMMANDS", "SitokenGroup"):
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
