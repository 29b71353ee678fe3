"""Open tokens by selector, whatever the driver: the library's front door."""

from __future__ import annotations

from .errors import InvalidInput
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


def open_token(
    token: str | None = None, *, module: str | None = None, policy: PinPolicy | None = None
) -> Token:
    """One token: by label, serial, ``pkcs11:`` URI, or ``pcsc:READER`` for a card.

    With no selector, the module's only initialised token is opened.
    """
    if token and token.startswith(PCSC_PREFIX):
        return _open_pcsc(token[len(PCSC_PREFIX):], policy)
    return Pkcs11Token.open(load_module(module), token, policy)


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


def _open_pcsc(reader: str, policy: PinPolicy | None) -> Token:
    # Imported late: pyscard is an optional dependency, needed only for card readers.
    from importlib import import_module

    pcsc = import_module("sitoken.pcsc")
    token: Token = pcsc.open_card(reader, policy=policy)
    return token
