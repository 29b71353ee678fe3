"""A token's CK_TOKEN_INFO as sitoken's TokenInfo and PinStatus.

Apart from the driver so that listing tokens (``sitoken tokens``) loads only the module, its
sessions and this, not the driver's keys, mechanisms, vendor profiles and certificate store.
"""

from __future__ import annotations

from ..pin import PinRole, PinStatus
from ..token import TokenInfo
from .constants import TokenFlag, flag_names
from .module import RawTokenInfo
from .uri import token_uri


def pin_status(flags: int, role: PinRole) -> PinStatus:
    """PinStatus from CK_TOKEN_INFO flags: PKCS#11 gives flags, never exact counts."""
    f = TokenFlag
    if role is PinRole.USER:
        bits = (f.USER_PIN_COUNT_LOW, f.USER_PIN_FINAL_TRY, f.USER_PIN_LOCKED, f.USER_PIN_TO_BE_CHANGED)
        initialized = bool(flags & f.USER_PIN_INITIALIZED)
    else:
        bits = (f.SO_PIN_COUNT_LOW, f.SO_PIN_FINAL_TRY, f.SO_PIN_LOCKED, f.SO_PIN_TO_BE_CHANGED)
        initialized = bool(flags & f.TOKEN_INITIALIZED)
    low, final, locked, change = (bool(flags & b) for b in bits)
    return PinStatus(role, initialized, None, None, low, final, locked, change)


def token_info_from_raw(raw: RawTokenInfo) -> TokenInfo:
    return TokenInfo(
        label=raw.label,
        serial=raw.serial,
        manufacturer=raw.manufacturer,
        model=raw.model,
        driver="pkcs11",
        uri=token_uri(raw.label, raw.serial, raw.manufacturer, raw.model),
        initialized=bool(raw.flags & TokenFlag.TOKEN_INITIALIZED),
        login_required=bool(raw.flags & TokenFlag.LOGIN_REQUIRED),
        pin=pin_status(raw.flags, PinRole.USER),
        so_pin=pin_status(raw.flags, PinRole.SO),
        flags=flag_names(raw.flags),
        slot=str(raw.slot_id),
    )
