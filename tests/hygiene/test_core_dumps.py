"""Core dumps are off while PINs are in memory: the CLI turns them off as it starts.

Each check runs in a fresh interpreter (the limits cannot be raised again once lowered): the
core limit is first raised as far as allowed and the process is dumpable, then the CLI's entry
point (or the library helper) runs, and both are read back from the kernel.
"""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import ctypes, json, resource, sys
libc = ctypes.CDLL(None, use_errno=True)
PR_GET_DUMPABLE = 3
hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
before = {"core": list(resource.getrlimit(resource.RLIMIT_CORE)), "dumpable": libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)}
if sys.argv[1] == "cli":
    from sitoken.cli import main
    status = main(["--version"])
else:
    if sys.argv[1] == "library-without-cffi":
        sys.modules["_cffi_backend"] = None  # the import fails: prctl goes through ctypes
    from sitoken import disable_core_dumps
    status = disable_core_dumps()
after = {"core": list(resource.getrlimit(resource.RLIMIT_CORE)), "dumpable": libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)}
print(json.dumps({"before": before, "after": after, "status": status}))
"""


def _probe(how: str) -> dict[str, dict[str, object]]:
    done = subprocess.run([sys.executable, "-c", PROBE, how], capture_output=True, text=True, timeout=60,
                          check=True)
    result: dict[str, dict[str, object]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_cli_turns_core_dumps_off_at_start() -> None:
    seen = _probe("cli")
    assert seen["before"]["dumpable"] == 1, "the probe could not start from a dumpable process"
    assert seen["after"] == {"core": [0, 0], "dumpable": 0}
    assert seen["status"] == 0


def test_the_library_helper_for_applications() -> None:
    for how in ("library", "library-without-cffi"):
        seen = _probe(how)
        assert seen["before"]["dumpable"] == 1, how
        assert seen["after"] == {"core": [0, 0], "dumpable": 0} and seen["status"] is True, how
