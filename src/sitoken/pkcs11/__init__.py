"""PKCS#11 driver: any module (SoftHSM, OpenSC, vendor) behind sitoken's Token interface."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .module import Module, ModuleChoice, discover_modules, resolve_module

if TYPE_CHECKING:
    from .driver import Pkcs11Token, free_slot, select_token

__all__ = ["Module", "ModuleChoice", "Pkcs11Token", "discover_modules", "free_slot", "resolve_module", "select_token"]
_DRIVER = frozenset({"Pkcs11Token", "free_slot", "select_token"})


def __getattr__(name: str) -> object:
    # The driver (keys, mechanisms, vendor profiles, certificates) loads when first asked for:
    # listing tokens needs only the module (docs/cli.md, "A fast CLI").
    if name in _DRIVER:
        from . import driver

        return getattr(driver, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
