"""sitoken: middleware between applications and USB-Key tokens holding social-insurance certificates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import SitokenError
from .pin import Pin, PinPolicy, PinRole, PinStatus, disable_core_dumps

if TYPE_CHECKING:
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

_TOKEN_NAMES = frozenset({"Capabilities", "KeyInfo", "KeyType", "Mechanism", "Token", "TokenInfo"})


def __getattr__(name: str) -> Any:  # Any: mypy also reads `from . import _native` through it
    # sitoken.token loads on first use: ``sitoken verify --pubkey`` opens no token and skips it.
    if name in _TOKEN_NAMES:
        from . import token

        return getattr(token, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
