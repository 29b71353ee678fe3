"""Open tokens by selector, whatever the driver: the library's front door."""

from __future__ import annotations

from . import pcsc
from .errors import InvalidInput, ModuleLoadError, TokenNotFound
from .pin import Pin, PinPolicy
from .pkcs11 import Module, Pkcs11Token, free_slot, resolve_module
from .pkcs11.driver import token_info_from_raw
from .token import Token, TokenInfo

PCSC_PREFIX = "pcsc:"


def load_module(module: str | None = None) -> Module:
    """Load a PKCS#11 module by path or name; None means SITOKEN_MODULE, else the simulated store."""
    return Module.load(resolve_module(module).path)


def list_tokens(module: str | None = None) -> list[TokenInfo]:
    """Every initialised token of a PKCS#11 module."""
    return [token_info_from_raw(raw) for raw in load_module(module).token_infos()]


def tokens_are_fixed(module: str | None = None) -> bool:
    """True when the module's tokens cannot be unplugged (SoftHSM): a missing one was destroyed."""
    return resolve_module(module).name == "softhsm"


def open_token(
    token: str | None = None, *, module: str | None = None, policy: PinPolicy | None = None
) -> Token:
    """One token: by label, serial, ``pkcs11:`` URI, or ``pcsc:READER`` for a card.

    With no selector, the module's only initialised token is opened. A plain selector
    that matches no token of the module is tried as the serial of a card in a PC/SC
    reader, when pyscard is installed.
    """
    if token and token.startswith(PCSC_PREFIX):
        return pcsc.open_card(token[len(PCSC_PREFIX):], policy=policy)
    try:
        mod = load_module(module)
    except ModuleLoadError as exc:
        # A card holder without any PKCS#11 module still selects the card by its serial.
        if not _plain(token) or module is not None:
            raise
        return _open_card_by_serial(token or "", policy, f"no PKCS#11 module to search ({exc})")
    try:
        return Pkcs11Token.open(mod, token, policy)
    except TokenNotFound as exc:
        if not _plain(token) or any(token in (i.label, i.serial) for i in mod.token_infos()):
            raise  # several tokens matched: ambiguity is not a reason to look at cards
        return _open_card_by_serial(token or "", policy, str(exc))


def _plain(token: str | None) -> bool:
    """A label or serial (not a URI), when pyscard is there to look for cards."""
    return bool(token) and not (token or "").startswith("pkcs11:") and pcsc.available()


def _open_card_by_serial(serial: str, policy: PinPolicy | None, pkcs11_searched: str) -> Token:
    """The card with this serial; else one TokenNotFound saying everything that was searched."""
    try:
        card: Token = pcsc.open_card_by_serial(serial, policy=policy)
    except TokenNotFound as exc:
        raise TokenNotFound(f"{pkcs11_searched}; {exc}") from None
    except ModuleLoadError as exc:  # no pcscd: still say what the PKCS#11 search found
        raise TokenNotFound(f"{pkcs11_searched}; PC/SC cards not searched: {exc}") from None
    return card


def open_free_token(*, module: str | None = None, policy: PinPolicy | None = None) -> Pkcs11Token:
    """The first uninitialised token of a module (SoftHSM keeps one free slot)."""
    mod = load_module(module)
    return Pkcs11Token(mod, free_slot(mod), policy)


def create_simulated_token(label: str, so_pin: Pin, user_pin: Pin, policy: PinPolicy | None = None) -> TokenInfo:
    """A new SoftHSM token in the simulated store, with both PINs set."""
    token = open_free_token(module="sim", policy=policy)
    (policy or PinPolicy()).enforce(user_pin, avoid=[so_pin.text()])
    if any(t.label == label for t in list_tokens("sim")):
        raise InvalidInput(f"a simulated token labelled {label!r} already exists")
    token.init_token(so_pin, label)
    token.init_pin(so_pin, user_pin)
    return token.info()

