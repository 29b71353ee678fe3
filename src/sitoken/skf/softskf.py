"""The software SKF token (``softskf/``, built by the set-up): where its library and store are.

Devices are hardware to an SKF library, so no SKF call makes one: ``softskf-util`` writes a
new device into the store, and everything after that (device authentication, the application,
PINs, keys) goes through the SKF interface like on a vendor's USB-Key.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..errors import InvalidInput, ModuleLoadError
from .devauth import DeviceKey

LIBRARY_ENV = "SITOKEN_SOFTSKF"  # path of libsoftskf.so, when it is not where the set-up builds it
STORE_ENV = "SOFTSKF_DIR"  # the store softskf reads; sitoken sets it to its own when unset
CONF_ENV = "SOFTSKF_CONF"  # softskf's own configuration file, which may name the store ("dir = ...")
SIM_DIR_ENV = "SITOKEN_SKF_DIR"
#: The key a new software device gets unless the counter gives another: softskf's factory key,
#: like the "1234567812345678" many vendors ship (SKF.md 1.1).
FACTORY_DEVICE_KEY = b"1234567812345678"
_BUILD = Path(__file__).resolve().parents[3] / "softskf" / "build"
_SYSTEM = (Path("/usr/local/lib"), Path("/usr/lib"))


def library_path() -> str | None:
    """libsoftskf.so: ``$SITOKEN_SOFTSKF``, the checkout's build, else an installed copy."""
    explicit = os.environ.get(LIBRARY_ENV)
    if explicit:
        return explicit if os.path.exists(explicit) else None
    return next((str(d / "libsoftskf.so") for d in (_BUILD, *_SYSTEM) if (d / "libsoftskf.so").exists()), None)


def util_path() -> str | None:
    library = library_path()
    beside = Path(library).with_name("softskf-util") if library else None
    if beside and beside.exists():
        return str(beside)
    return shutil.which("softskf-util")


def store_dir() -> Path:
    """sitoken's store: ``$SOFTSKF_DIR``, else ``$SITOKEN_SKF_DIR``, else under XDG data."""
    explicit = os.environ.get(STORE_ENV) or os.environ.get(SIM_DIR_ENV)
    if explicit:
        return Path(explicit)
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(data) / "sitoken" / "softskf"


def activate_store() -> Path | None:
    """Point softskf at sitoken's store, unless the user chose one (its variable or its config file).

    Returns the directory when sitoken chose it (None: softskf's configuration decides).
    """
    if os.environ.get(CONF_ENV) and not os.environ.get(STORE_ENV):
        return None
    root = store_dir()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ[STORE_ENV] = str(root)
    return root


def require_library() -> str:
    path = library_path()
    if path is None:
        raise ModuleLoadError(
            "the software SKF token is not built (run scripts/setup.sh, or set SITOKEN_SOFTSKF to libsoftskf.so)"
        )
    activate_store()
    return path


def create_device(name: str, *, label: str | None = None, serial: str | None = None,
                  device_key: DeviceKey | None = None) -> None:
    """A new device in the store; its key goes to softskf-util through the environment, never argv."""
    util = util_path()
    if util is None:
        raise ModuleLoadError("softskf-util is not built (run scripts/setup.sh)")
    activate_store()
    key = device_key.reveal() if device_key else FACTORY_DEVICE_KEY
    variable = "SITOKEN_SOFTSKF_DEVICE_KEY"
    env = {**os.environ, variable: key.hex()}
    argv = [util, "create-device", name, "--label", label or name, "--serial", serial or name,
            "--auth-key-env", variable]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0:
        detail = done.stderr.strip() or f"exit status {done.returncode}"
        raise InvalidInput(f"softskf-util could not create device {name!r}: {detail}")
