"""Host manifests: where each browser looks for them, and writing or removing them with the launcher."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidInput
from ..safefiles import write_file

HOST_NAME = "cn.sitoken.web"
BROWSERS = ("chromium", "chrome", "firefox")
# web/extension: the Chromium ID follows from the "key" in its manifest.json; Firefox's is its gecko id.
SITOKEN_EXTENSION = {"chromium": "ifleemkpmbiebniaaoeinlnkhhdoekjg", "chrome": "ifleemkpmbiebniaaoeinlnkhhdoekjg",
                     "firefox": "web@sitoken.cn"}
_USER_DIRS = {"chromium": ".config/chromium/NativeMessagingHosts",
              "chrome": ".config/google-chrome/NativeMessagingHosts",
              "firefox": ".mozilla/native-messaging-hosts"}
_SYSTEM_DIRS = {"chromium": "/etc/chromium/native-messaging-hosts",
                "chrome": "/etc/opt/chrome/native-messaging-hosts",
                "firefox": "/usr/lib/mozilla/native-messaging-hosts"}


@dataclass(frozen=True)
class HostFiles:
    """The manifest and the launcher it points at (the browser cannot pass arguments itself)."""

    browser: str
    manifest: Path
    launcher: Path

    def to_dict(self) -> dict[str, str]:
        return {"browser": self.browser, "manifest": str(self.manifest), "launcher": str(self.launcher)}


def manifest_directory(browser: str, *, user_data_dir: str | os.PathLike[str] | None = None,
                       system: bool = False) -> Path:
    """Where ``browser`` reads host manifests: a profile given with --user-data-dir, the user's, or the system's."""
    if browser not in BROWSERS:
        raise InvalidInput(f"unknown browser {browser!r}; known: {', '.join(BROWSERS)}")
    if user_data_dir is not None:
        if browser == "firefox":
            raise InvalidInput("Firefox reads host manifests from the user's or the system's directory only")
        # Chromium with --user-data-dir=DIR looks in DIR/NativeMessagingHosts (seen with Chromium 156).
        return Path(user_data_dir) / "NativeMessagingHosts"
    if system:
        return Path(_SYSTEM_DIRS[browser])
    return Path.home() / _USER_DIRS[browser]


def host_files(browser: str, directory: Path) -> HostFiles:
    return HostFiles(browser, directory / f"{HOST_NAME}.json", directory / f"{HOST_NAME}.sh")


def manifest(browser: str, launcher: Path, extension_ids: Sequence[str]) -> dict[str, object]:
    """The manifest for ``browser``: Chromium and Chrome allow extension origins, Firefox extension IDs."""
    extension_ids = list(extension_ids) or [SITOKEN_EXTENSION[browser]]
    body: dict[str, object] = {"name": HOST_NAME, "description": "sitoken: USB-Key login and signing for web portals",
                               "path": str(launcher), "type": "stdio"}
    if browser == "firefox":
        body["allowed_extensions"] = list(extension_ids)
    else:
        for ident in extension_ids:
            if len(ident) != 32 or not set(ident) <= set("abcdefghijklmnop"):
                raise InvalidInput(f"{ident!r} is not a Chromium extension ID (32 letters a-p)")
        body["allowed_origins"] = [f"chrome-extension://{ident}/" for ident in extension_ids]
    return body


def install(files: HostFiles, command: Sequence[str], extension_ids: Sequence[str]) -> HostFiles:
    """Write the launcher (``command`` plus the browser's own arguments) and the manifest over any earlier ones."""
    body = manifest(files.browser, files.launcher, extension_ids)
    files.manifest.parent.mkdir(parents=True, exist_ok=True)
    script = "#!/bin/sh\nexec " + " ".join(shlex.quote(part) for part in command) + ' "$@"\n'
    write_file(files.launcher, script.encode("utf-8"), force=True)
    os.chmod(files.launcher, 0o755)
    write_file(files.manifest, (json.dumps(body, indent=2) + "\n").encode("utf-8"), force=True)
    return files


def uninstall(files: HostFiles) -> list[Path]:
    """Remove what :func:`install` wrote; the paths that were there."""
    removed = []
    for path in (files.manifest, files.launcher):
        if path.is_file() and not path.is_symlink():
            path.unlink()
            removed.append(path)
    return removed
