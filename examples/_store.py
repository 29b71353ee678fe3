"""Shared by the SoftHSM examples: a throwaway simulated token store, and PINs read from variables.

An example never touches your own store: unless ``--store DIR`` is given it works in a new
temporary directory, removed at the end. ``SITOKEN_SIM_DIR`` and ``SOFTHSM2_CONF`` are set
before sitoken loads the SoftHSM module (SoftHSM reads them once per process).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Demo PINs for a throwaway store; set the variables to use others. Never reuse these.
DEFAULT_SO_PIN = "demo-so-2468"
DEFAULT_PIN = "zq83demo"


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", metavar="DIR",
                        help="SoftHSM store to use and keep (default: a temporary one, removed at the end)")
    parser.add_argument("--so-pin-env", metavar="VAR", default="EXAMPLE_SO_PIN",
                        help="variable holding the SO PIN (default EXAMPLE_SO_PIN, else a demo value)")
    parser.add_argument("--pin-env", metavar="VAR", default="EXAMPLE_PIN",
                        help="variable holding the user PIN (default EXAMPLE_PIN, else a demo value)")


def pins(args: argparse.Namespace) -> tuple[str, str]:
    """The SO PIN and the user PIN, from the variables the arguments name."""
    return os.environ.get(args.so_pin_env, DEFAULT_SO_PIN), os.environ.get(args.pin_env, DEFAULT_PIN)


@contextmanager
def simulated_store(directory: str | None) -> Iterator[Path]:
    """Point sitoken's simulated token at ``directory`` (or a temporary one) for this process."""
    temporary = directory is None
    root = Path(tempfile.mkdtemp(prefix="sitoken-example-") if directory is None else directory)
    os.environ["SITOKEN_SIM_DIR"] = str(root / "softhsm")
    os.environ.pop("SOFTHSM2_CONF", None)
    os.environ.pop("SITOKEN_MODULE", None)
    from sitoken.pkcs11.softhsm import SimStore

    SimStore.default().activate()  # sets SOFTHSM2_CONF before the module is loaded
    try:
        yield root
    finally:
        if temporary:
            shutil.rmtree(root, ignore_errors=True)
