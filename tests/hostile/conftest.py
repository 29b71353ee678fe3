"""The hostile-input suite's report: how many inputs each parser was given."""

from __future__ import annotations

import pytest
from hostile_support import TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # The count tells whether a run fuzzed anything at all: hypothesis can shrink a test to a
    # handful of examples (e.g. a too-strict filter) and still pass.
    if not TALLY:
        return
    terminalreporter.section("hostile inputs")
    for name, count in sorted(TALLY.items()):
        terminalreporter.write_line(f"{name:<48} {count:>7}")
    terminalreporter.write_line(
        f"hostile inputs tried: {sum(TALLY.values())} across {len(TALLY)} parsers"
    )
