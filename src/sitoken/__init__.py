"""sitoken: middleware between applications and USB-Key tokens holding social-insurance certificates."""

from __future__ import annotations

from ._version import __version__
from .errors import SitokenError
from .pin import Pin, PinPolicy, PinRole, PinStatus, disable_core_dumps
from .token import Capabilities, KeyInfo, KeyType, Mechanism, Token, TokenInfo

__all__ = [
    "Capabilities",
    "KeyInfo",
    "KeyType",
    "Mechanism",
    "Pin",
    "PinPolicy",
    "PinRole",
    "PinStatus",
    "SitokenError",
    "Token",
    "TokenInfo",
    "__version__",
    "disable_core_dumps",
]
