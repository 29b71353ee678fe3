"""A stale extension is refused: its build id carries a fingerprint of the declarations it was built from."""

from __future__ import annotations

import pytest
from helpers_native import require_native

from sitoken import _native_loader


def test_the_built_extension_matches_the_installed_declarations() -> None:
    require_native()
    status = _native_loader.native_status()
    assert status.active
    assert status.version == _native_loader.expected_build(_native_loader._installed_declarations())


def test_an_extension_built_from_other_declarations_is_refused_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    require_native()
    # The same package version, declarations that gained a type since the build.
    grown = _native_loader._installed_declarations() + b"\ntypedef struct CK_NEW CK_NEW;\n"
    monkeypatch.setattr(_native_loader, "_installed_declarations", lambda: grown)
    _native_loader._import.cache_clear()
    try:
        status = _native_loader.native_status()
        assert not status.active and "stale extension" in status.reason
        assert _native_loader.extension_binding() is None  # module set-up falls back to ABI mode
    finally:
        monkeypatch.undo()
        _native_loader._import.cache_clear()
    assert _native_loader.native_status().active
