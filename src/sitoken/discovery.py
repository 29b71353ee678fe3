"""Open tokens by selector, whatever the driver: the library's front door."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .errors import InvalidInput, ModuleLoadError, TokenNotFound
from .pin import Pin, PinPolicy
from .pkcs11 import Module, resolve_module
from .pkcs11.info import token_info_from_raw
from .token import Token, TokenInfo

if TYPE_CHECKING:
    from . import skf
    from .skf import DeviceKey as DeviceKey  # an SKF device's authentication key, for callers above the drivers

# The PC/SC and SKF drivers are imported when a selection names them (or a plain selector
# matches no PKCS#11 token): listing or using a PKCS#11 token loads neither (docs/cli.md).


def __getattr__(name: str) -> object:
    if name == "DeviceKey":  # loaded with the SKF driver, when a caller asks for it
        from .skf import DeviceKey

        return DeviceKey
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

PCSC_PREFIX = "pcsc:"
SKF_URI = "skf:"
#: ``--module skf`` is the software SKF token, ``--module skf:PATH`` a vendor's SKF library.
SKF_MODULE = "skf"


def is_skf_module(spec: str | None) -> bool:
    """True for ``skf`` and ``skf:PATH`` (the module option's SKF forms)."""
    return spec is not None and (spec == SKF_MODULE or spec.startswith(SKF_MODULE + ":"))


def _skf_spec(module: str | None, token: str | None = None) -> str | None:
    """The SKF library spec when the selection means SKF (``--module skf[:PATH]``, or an skf: URI)."""
    module = module if module is not None else os.environ.get("SITOKEN_MODULE")
    if is_skf_module(module):
        return module
    if token and token.startswith(SKF_URI) and module is None:
        return "skf"
    return None


def skf_selected(module: str | None, token: str | None = None) -> bool:
    """True when ``--module``/``SITOKEN_MODULE``/``--token`` choose the SKF driver."""
    return _skf_spec(module, token) is not None


def card_selected(token: str | None) -> bool:
    """True when ``--token`` names a card in a PC/SC reader (``pcsc:READER``): no PKCS#11 module is used."""
    return bool(token and token.startswith(PCSC_PREFIX))


def _skf_selector(token: str | None) -> str | None:
    return token[len(SKF_URI):] if token and token.startswith(SKF_URI) else token


def load_module(module: str | None = None) -> Module:
    """Load a PKCS#11 module by path or name; None means SITOKEN_MODULE, else the simulated store."""
    return Module.load(resolve_module(module).path)


def list_tokens(module: str | None = None) -> list[TokenInfo]:
    """Every initialised token of a PKCS#11 module, or every application of an SKF library's devices."""
    spec = _skf_spec(module)
    if spec is not None:
        from . import skf

        return skf.list_tokens(spec)
    return [token_info_from_raw(raw) for raw in load_module(module).token_infos()]


def tokens_are_fixed(module: str | None = None) -> bool:
    """True when the module's tokens cannot be unplugged (SoftHSM): a missing one was destroyed."""
    if skf_selected(module):
        return False  # an SKF device that is missing was taken out, software or not
    return resolve_module(module).name == "softhsm"


def software_device_key(module: str | None = None) -> skf.DeviceKey | None:
    """The software SKF token's factory device key when ``module`` is that token (its devices are
    made with it); None for any other module, whose device keys the counter must be given."""
    if _skf_spec(module) == SKF_MODULE:
        from . import skf

        return skf.DeviceKey(skf.softskf.FACTORY_DEVICE_KEY)
    return None


def open_token(
    token: str | None = None, *, module: str | None = None, policy: PinPolicy | None = None,
    device_key: skf.DeviceKey | None = None, template: skf.ApplicationTemplate | None = None,
) -> Token:
    """One token: by label, serial, ``pkcs11:`` URI, ``pcsc:READER`` for a card, or SKF ``DEVICE[/APP]``.

    With no selector, the module's only initialised token is opened. A plain selector
    that matches no token of the module is tried as the serial of a card in a PC/SC
    reader, when pyscard is installed. ``device_key`` is an SKF device's authentication
    key and ``template`` the retry limits of its application, needed only to (re)create
    the application (``init_token``).
    """
    spec = _skf_spec(module, token)
    if spec is not None:
        from . import skf

        return skf.open_token(spec, _skf_selector(token), policy=policy, device_key=device_key, template=template)
    if token and card_selected(token):
        from . import pcsc

        return pcsc.open_card(token[len(PCSC_PREFIX):], policy=policy)
    try:
        mod = load_module(module)
    except ModuleLoadError as exc:
        # A card holder without any PKCS#11 module still selects the card by its serial.
        if not _plain(token) or module is not None:
            raise
        return _open_card_by_serial(token or "", policy, f"no PKCS#11 module to search ({exc})")
    from .pkcs11.driver import Pkcs11Token  # here: listing tokens does not load the driver

    try:
        return Pkcs11Token.open(mod, token, policy)
    except TokenNotFound as exc:
        if not _plain(token) or any(token in (i.label, i.serial) for i in mod.token_infos()):
            raise  # several tokens matched: ambiguity is not a reason to look at cards
        return _open_card_by_serial(token or "", policy, str(exc))


def _plain(token: str | None) -> bool:
    """A label or serial (not a URI), when pyscard is there to look for cards."""
    from . import pcsc

    return bool(token) and not (token or "").startswith("pkcs11:") and pcsc.available()


def _open_card_by_serial(serial: str, policy: PinPolicy | None, pkcs11_searched: str) -> Token:
    """The card with this serial; else one TokenNotFound saying everything that was searched."""
    from . import pcsc

    try:
        card: Token = pcsc.open_card_by_serial(serial, policy=policy)
    except TokenNotFound as exc:
        raise TokenNotFound(f"{pkcs11_searched}; {exc}") from None
    except ModuleLoadError as exc:  # no pcscd: still say what the PKCS#11 search found
        raise TokenNotFound(f"{pkcs11_searched}; PC/SC cards not searched: {exc}") from None
    return card


def open_free_token(*, module: str | None = None, policy: PinPolicy | None = None,
                    device_key: skf.DeviceKey | None = None) -> Token:
    """The first uninitialised token of a module (SoftHSM keeps one free slot; the software SKF
    token makes a new device); an SKF device is initialised with ``device_key``."""
    spec = _skf_spec(module)
    if spec is not None:
        from . import skf

        return skf.open_free_token(spec, policy=policy, device_key=device_key)
    from .pkcs11.driver import Pkcs11Token, free_slot

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



def create_simulated_skf(
    name: str, so_pin: Pin, user_pin: Pin, policy: PinPolicy | None = None,
    device_key: skf.DeviceKey | None = None,
) -> TokenInfo:
    """A new device ``name`` on the software SKF token, with an application ``name`` and both PINs."""
    from . import skf

    (policy or PinPolicy()).enforce(user_pin, avoid=[so_pin.text()])
    skf.softskf.require_library()
    if name in skf.devices("skf"):
        raise InvalidInput(f"a software SKF device named {name!r} already exists")
    skf.softskf.create_device(name, device_key=device_key)
    key = device_key or skf.DeviceKey(skf.softskf.FACTORY_DEVICE_KEY)
    with skf.open_token("skf", name, policy=policy, device_key=key) as token:
        token.init_token(so_pin, name)
        token.init_pin(so_pin, user_pin)
        return token.info()
