"""What some tokens cannot do although the PKCS#11 API lets a caller try (found on real modules).

Not from the spec: sitoken's own knowledge, so that ``Pkcs11Token.capabilities`` declares
limits up front instead of failing late.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenQuirks:
    """Departures from what a PKCS#11 token is assumed to do."""

    can_init_token: bool = True
    keygen_needs_so_pin: bool = False


NONE = TokenQuirks()

# OpenSC's on-card PKCS#15 emulation (model "PKCS#15 emulated") answers C_InitToken with
# CKR_FUNCTION_NOT_SUPPORTED. On an OpenPGP card its C_GenerateKeyPair needs the SO
# (admin PIN) login: after a user login it fails with CKR_USER_NOT_LOGGED_IN.
_BY_TOKEN: dict[tuple[str, str], TokenQuirks] = {
    ("OpenPGP project", "PKCS#15 emulated"): TokenQuirks(can_init_token=False, keygen_needs_so_pin=True),
}
_BY_MODEL = {"PKCS#15 emulated": TokenQuirks(can_init_token=False)}


def quirks_for(manufacturer: str, model: str) -> TokenQuirks:
    """The known quirks of a token, from its CK_TOKEN_INFO manufacturer and model."""
    return _BY_TOKEN.get((manufacturer, model)) or _BY_MODEL.get(model, NONE)
