"""PKCS#11 driver: any module (SoftHSM, OpenSC, vendor) behind sitoken's Token interface."""

from __future__ import annotations

from .driver import Pkcs11Token, free_slot, select_token
from .module import Module, ModuleChoice, discover_modules, resolve_module

__all__ = ["Module", "ModuleChoice", "Pkcs11Token", "discover_modules", "free_slot", "resolve_module", "select_token"]
