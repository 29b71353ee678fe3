"""The simulated USB-Key: a private SoftHSM token store that sitoken owns."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModuleLoadError, OutputExists, TokenNotFound
from ..safefiles import write_file

#: Where Debian (and most distributions) put SoftHSM's module.
SOFTHSM_MODULE_PATHS = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)

_CONF = """\
# Written by sitoken: a private SoftHSM token store (the simulated USB-Key).
directories.tokendir = {tokens}
objectstore.backend = file
log.level = ERROR
slots.removable = false
slots.mechanisms = ALL
library.reset_on_fork = false
"""


def softhsm_module() -> str | None:
    """The SoftHSM module's path, if SoftHSM is installed."""
    return next((p for p in SOFTHSM_MODULE_PATHS if os.path.exists(p)), None)


@dataclass(frozen=True)
class SimStore:
    """A SoftHSM token store in one directory: ``softhsm2.conf`` and ``tokens/``."""

    root: Path

    @classmethod
    def default(cls) -> SimStore:
        """``$SITOKEN_SIM_DIR``, else ``$XDG_DATA_HOME/sitoken/softhsm``."""
        explicit = os.environ.get("SITOKEN_SIM_DIR")
        if explicit:
            return cls(Path(explicit))
        data = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
        return cls(Path(data) / "sitoken" / "softhsm")

    @property
    def conf(self) -> Path:
        return self.root / "softhsm2.conf"

    @property
    def tokens(self) -> Path:
        return self.root / "tokens"

    def ensure(self) -> SimStore:
        """Create the store (owner-only) and its configuration if missing."""
        self.tokens.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        text = _CONF.format(tokens=self.tokens)
        if not self.conf.exists() or self.conf.read_text() != text:
            # Atomic and owner-only from the start; never through a link at the name.
            try:
                write_file(self.conf, text.encode(), force=True, private=True)
            except OutputExists:
                # Another process made it between the look and the write (two counters
                # starting at once): theirs is the same text, or ours replaces it.
                if self.conf.read_text() != text:
                    write_file(self.conf, text.encode(), force=True, private=True)
        return self

    def activate(self) -> None:
        """Point SoftHSM at this store; must happen before the module is initialised."""
        self.ensure()
        os.environ["SOFTHSM2_CONF"] = str(self.conf)



def active_store_conf() -> str:
    """The SoftHSM configuration the simulated token uses, activating sitoken's own if none is set.

    A store chosen by the user (``SOFTHSM2_CONF`` already set) wins, so that
    ``sitoken sim ...`` and ``sitoken tokens`` always look at the same tokens.
    """
    conf = os.environ.get("SOFTHSM2_CONF")
    if not conf:
        SimStore.default().activate()
        return os.environ["SOFTHSM2_CONF"]
    if not os.path.isfile(conf):
        raise ModuleLoadError(f"SOFTHSM2_CONF names {conf}, which does not exist")
    return conf


def delete_token(label: str) -> None:
    """Remove a simulated token and its objects (no PIN needed, as when a key is lost)."""
    import shutil  # here: every run that opens the store imports this module, few delete
    import subprocess

    tool = shutil.which("softhsm2-util")
    if tool is None:
        raise ModuleLoadError("softhsm2-util is not installed (Debian package softhsm2)")
    conf = active_store_conf()
    done = subprocess.run(
        [tool, "--delete-token", "--token", label],
        env={**os.environ, "SOFTHSM2_CONF": conf}, capture_output=True, text=True,
        check=False, timeout=60,
    )
    if done.returncode != 0:
        raise TokenNotFound(f"no simulated token labelled {label!r} in the store of {conf}")
