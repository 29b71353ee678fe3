"""Helpers of the p11-kit tests: tools of the bed run as processes."""

from __future__ import annotations

import os
import shutil
import subprocess

from testbed.p11kit_bed import CLIENT_MODULE, RemoteBed

from bed_support import require


def run_tool(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command line tool of the bed (pkcs11-tool, openssl); the test asserts on the result."""
    require(shutil.which(args[0]) is not None, args[0])
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, check=False)


def client_tool(bed: RemoteBed, *args: str) -> subprocess.CompletedProcess[str]:
    """pkcs11-tool through p11-kit-client.so."""
    return run_tool("pkcs11-tool", "--module", CLIENT_MODULE, *args, env=bed.env())
