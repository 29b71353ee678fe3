"""SKF driver: any GM/T 0016 library (a vendor's, or the software token) behind sitoken's Token interface.

``--module skf`` is the software token, ``--module skf:PATH`` a vendor library; ``--token
DEVICE[/APPLICATION]`` selects a device and one of its applications.
"""

from __future__ import annotations

import functools
import glob
import os
import secrets
from dataclasses import dataclass

from ..errors import InvalidInput, ModuleLoadError, TokenNotFound
from ..pin import PinPolicy
from ..token import TokenInfo
from . import softskf
from .binding import SkfLibrary
from .devauth import DeviceKey
from .driver import ApplicationTemplate, KeyRef, SkfToken

PREFIX = "skf"  # --module skf[:PATH], as sitoken.discovery reads the selection
ULONG_ENV = "SITOKEN_SKF_ULONG"  # 8 for the rare libraries whose ULONG is a 64-bit long
#: Where vendors install their SKF libraries on Linux (SKF.md section 10); globbed by ``doctor``.
VENDOR_GLOBS = (
    "/opt/lm-gm3000/lib/libgm3000*.so*",
    "/opt/apps/com.longmai.gm3000user/files/lib/libgm3000*.so*",
    "/usr/lib/libes_3000gm.so*",
    "/usr/lib/x86_64-linux-gnu/libes_3000gm.so*",
    "/usr/local/lib/libes_3000gm.so*",
    "/usr/lib/libskf.so",
    "/usr/local/lib/libskf.so",
)

__all__ = [
    "ApplicationTemplate", "DeviceKey", "KeyRef", "SkfLibrary", "SkfLibraryChoice", "SkfToken",
    "discover_libraries", "list_tokens", "open_free_token", "open_token", "resolve_library",
]


@dataclass(frozen=True)
class SkfLibraryChoice:
    """An SKF library sitoken can load, and where it was found."""

    path: str
    name: str  # "softskf" or the file name
    source: str  # "software token", "option", "vendor path"

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "name": self.name, "source": self.source}


def resolve_library(spec: str) -> SkfLibraryChoice:
    if spec == PREFIX:
        return SkfLibraryChoice(softskf.require_library(), "softskf", "software token")
    path = spec[len(PREFIX) + 1:]
    if not path or not os.path.exists(path):
        raise ModuleLoadError(f"SKF library not found: {path or '(no path after skf:)'}")
    return SkfLibraryChoice(path, os.path.basename(path), "option")


def discover_libraries() -> list[SkfLibraryChoice]:
    """Every SKF library found on this machine: the software token and the vendors' usual paths."""
    found: list[SkfLibraryChoice] = []
    soft = softskf.library_path()
    if soft:
        found.append(SkfLibraryChoice(soft, "softskf", "software token"))
    for pattern in VENDOR_GLOBS:
        found += [SkfLibraryChoice(p, os.path.basename(p), "vendor path") for p in sorted(glob.glob(pattern))]
    return found


@functools.cache
def _load(path: str, ulong: int) -> SkfLibrary:
    return SkfLibrary(path, ulong=ulong)


def load_library(spec: str) -> SkfLibrary:
    """The process's one binding of the library ``spec`` names."""
    text = os.environ.get(ULONG_ENV, "4")
    if text not in ("4", "8"):
        raise InvalidInput(f"{ULONG_ENV} is 4 or 8 (bytes in the library's ULONG)")
    return _load(os.path.realpath(resolve_library(spec).path), int(text))


def devices(spec: str) -> list[str]:
    """The devices present now (SKF_EnumDev with bPresent = TRUE)."""
    return load_library(spec).names("SKF_EnumDev", 1)


def _split(selector: str | None) -> tuple[str | None, str | None]:
    if not selector:
        return None, None
    device, _, app = selector.partition("/")
    return device or None, app or None


def _pick(kind: str, wanted: str | None, present: list[str], where: str) -> str | None:
    if wanted is not None:
        if wanted not in present:
            listed = ", ".join(repr(p) for p in present) or "none"
            raise TokenNotFound(f"no SKF {kind} {wanted!r} {where} ({kind}s: {listed})")
        return wanted
    if len(present) == 1:
        return present[0]
    if not present:
        return None
    listed = ", ".join(repr(p) for p in present)
    raise TokenNotFound(f"several SKF {kind}s {where} ({listed}): give --token DEVICE[/APPLICATION]")


def open_token(
    spec: str, selector: str | None = None, *, policy: PinPolicy | None = None,
    device_key: DeviceKey | None = None, template: ApplicationTemplate | None = None,
) -> SkfToken:
    """The application ``DEVICE/APPLICATION`` (either part may be left out when only one exists)."""
    library = load_library(spec)
    want_device, want_app = _split(selector)
    present = devices(spec)
    if want_device is not None and want_device not in present and want_app is None:
        # Like a PKCS#11 token, a USB-Key is also found by its serial or its application's label.
        found = _device_by_serial_or_application(library, want_device, present)
        want_device, want_app = found or (want_device, None)
    device = _pick("device", want_device, present, "is present")
    if device is None:
        raise TokenNotFound("no SKF device is present")
    token = SkfToken(library, device, policy=policy, device_key=device_key, template=template)
    try:
        app = _pick("application", want_app, token.applications(), f"on device {device!r}")
        if app is not None:
            token.select_application(app)
    except BaseException:
        token.close()
        raise
    return token


def _device_by_serial_or_application(library: SkfLibrary, wanted: str, present: list[str]
                                     ) -> tuple[str, str | None] | None:
    """(device, application) of the one present device whose serial, or one of whose applications, is ``wanted``."""
    found: list[tuple[str, str | None]] = []
    for device in present:
        token = SkfToken(library, device)
        try:
            apps = token.applications()
            if wanted in apps:
                found.append((device, wanted))
            elif token.devinfo().serial == wanted:
                found.append((device, None))
        finally:
            token.close()
    return found[0] if len(found) == 1 else None


def open_free_token(spec: str, *, policy: PinPolicy | None = None, device_key: DeviceKey | None = None,
                    template: ApplicationTemplate | None = None) -> SkfToken:
    """A present device without any application, for a counter to initialise.

    On the software token a new device is made when none is free (like SoftHSM's free slot),
    with ``device_key`` or the software token's factory key; a vendor's USB-Key must be inserted.
    """
    library = load_library(spec)
    for device in devices(spec):
        token = SkfToken(library, device, policy=policy, device_key=device_key, template=template)
        if not token.applications():
            return token
        token.close()
    if spec != PREFIX:
        raise TokenNotFound("no SKF device without an application is present: insert a new USB-Key")
    name = f"SK{secrets.token_hex(6).upper()}"
    softskf.create_device(name, device_key=device_key)
    key = device_key or DeviceKey(softskf.FACTORY_DEVICE_KEY)
    return SkfToken(library, name, policy=policy, device_key=key, template=template)


def list_tokens(spec: str) -> list[TokenInfo]:
    """One entry per application of every present device; a device without any shows uninitialised."""
    library = load_library(spec)
    infos: list[TokenInfo] = []
    for device in devices(spec):
        token = SkfToken(library, device)
        try:
            apps = token.applications()
            if not apps:
                infos.append(token.info())
            for app in apps:
                token.select_application(app)
                infos.append(token.info())
                token.close_application()
        finally:
            token.close()
    return infos
