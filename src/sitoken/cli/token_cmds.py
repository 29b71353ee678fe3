"""CLI: listing tokens, initialising them, and the PIN lifecycle."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..discovery import open_free_token, skf_selected
from ..pin import SO_PIN_POLICY, PinRole, PinStatus
from ..token import Token
from .actions import list_tokens, token_dict
from .common import (
    confirm,
    device_key_options,
    emit,
    final_try_option,
    force_option,
    json_option,
    open_selected,
    pin_options,
    read_device_key,
    read_pin,
    selection_options,
    state,
    step,
)

if TYPE_CHECKING:
    from .. import skf


@click.command("tokens")
@selection_options
@json_option
def tokens() -> None:
    """List the tokens of a module, with their PIN state.

    \b
    Examples:
      sitoken tokens
      sitoken tokens --module opensc --json
    """
    list_tokens(state(), open_selected)


@click.group("token")
def token_group() -> None:
    """Initialise tokens.

    \b
    Examples:
      sitoken token init --label counter-01 --so-pin-env SO_PIN
      sitoken token init --token old-label --label reused --force --so-pin-file so.txt
      sitoken token init --module skf --token dev1 --label SOCIAL --so-pin-env SO \
          --device-key-file devkey.hex --user-retries 6 --so-retries 10
    """


@token_group.command("init")
@selection_options
@click.option("--label", required=True, help="The token's new label (1-32 bytes); on SKF, the application name.")
@click.option("--user-retries", type=int, default=6, show_default=True, help="SKF: user PIN tries before it locks.")
@click.option("--so-retries", type=int, default=10, show_default=True, help="SKF: admin PIN tries before it locks.")
@pin_options("so-pin", "SO PIN")
@device_key_options
@force_option
@json_option
def token_init(label: str, user_retries: int, so_retries: int, force: bool) -> None:
    """Initialise a token: erase it, set its label and SO PIN.

    With --token, that token is re-initialised (everything on it is erased);
    without it, the module's first uninitialised token is used. On an SKF
    device this creates the application (deleting the selected one) with the
    SO PIN as its admin PIN and the given retry limits; it needs the device
    authentication key (--device-key-env/--device-key-file).
    """
    from ..skf import ApplicationTemplate

    token = _token_to_initialise(force, ApplicationTemplate(admin_retries=so_retries, user_retries=user_retries))
    so_pin = read_pin("so-pin", "SO PIN", new=True, policy=SO_PIN_POLICY)
    with so_pin:
        step(f"initialising token as {label!r} ...")
        token.init_token(so_pin, label)
    info = token.info()
    emit(token_dict(info), f"token initialised: {info.label} (serial {info.serial}); "
         "now set the user PIN with 'sitoken pin init'")


def _token_to_initialise(force: bool, template: skf.ApplicationTemplate) -> Token:
    st = state()
    if st.token or skf_selected(st.module, st.token):
        token = open_selected(device_key=read_device_key(), template=template)
        info = token.info()
        if info.initialized:
            confirm(f"Erase every key and certificate on token {st.token or info.uri!r}?", force)
        return token
    token = open_free_token(module=st.module)
    click.get_current_context().call_on_close(token.close)
    return token


@click.group("pin")
def pin_group() -> None:
    """The PIN lifecycle: status, first set, change, administrator reset, SO PIN change.

    PINs are never taken on the command line: they come from a hidden prompt
    (new PINs twice), --*-env VAR, or --*-file PATH|- .

    \b
    Examples:
      sitoken pin status --token alice --json
      sitoken pin change --token alice
      PIN=... NEW=... sitoken pin change --pin-env PIN --new-pin-env NEW
      sitoken pin reset --token alice --so-pin-file so.txt   # forgotten PIN, at the counter
    """


def _status_text(user: PinStatus, so: PinStatus) -> str:
    return f"user PIN: {user.state} ({user.describe()})\nSO PIN:   {so.state} ({so.describe()})"


@pin_group.command("status")
@selection_options
@json_option
def pin_status() -> None:
    """Show the user and SO PIN state (exact tries left where the token reports them)."""
    token = open_selected()
    user, so = token.pin_status(PinRole.USER), token.pin_status(PinRole.SO)
    emit({"user": user.to_dict(), "so": so.to_dict()}, _status_text(user, so))


@pin_group.command("change")
@selection_options
@pin_options("pin", "current PIN")
@pin_options("new-pin", "new user PIN")
@final_try_option
@json_option
def pin_change(allow_final_try: bool) -> None:
    """Change the user PIN (the holder knows the current one)."""
    token = open_selected()
    old = read_pin("pin", "current PIN")
    new = read_pin("new-pin", "new user PIN", new=True, policy=token.policy)
    with old, new:
        token.change_pin(old, new, force=allow_final_try)
    emit({"changed": "user"}, "user PIN changed")


def _admin_set(allow_final_try: bool, first: bool) -> None:
    token = open_selected()
    so = read_pin("so-pin", "SO PIN")
    new = read_pin("new-pin", "new user PIN", new=True, policy=token.policy)
    with so, new:
        if first:
            token.init_pin(so, new)
        else:
            token.reset_pin(so, new, force=allow_final_try)
    emit({"reset": "user"}, "user PIN set" if first else "user PIN reset; its retry counter is restored")


@pin_group.command("reset")
@selection_options
@pin_options("so-pin", "SO PIN")
@pin_options("new-pin", "new user PIN")
@final_try_option
@json_option
def pin_reset(allow_final_try: bool) -> None:
    """Administrator reset (unblock) of a forgotten or locked user PIN with the SO PIN."""
    _admin_set(allow_final_try, first=False)


@pin_group.command("init")
@selection_options
@pin_options("so-pin", "SO PIN")
@pin_options("new-pin", "new user PIN")
@json_option
def pin_init() -> None:
    """Set the first user PIN of a freshly initialised token (with the SO PIN)."""
    _admin_set(False, first=True)


@pin_group.command("change-so")
@selection_options
@pin_options("so-pin", "current SO PIN")
@pin_options("new-so-pin", "new SO PIN")
@final_try_option
@json_option
def pin_change_so(allow_final_try: bool) -> None:
    """Change the administrator (SO) PIN."""
    token = open_selected()
    old = read_pin("so-pin", "current SO PIN")
    new = read_pin("new-so-pin", "new SO PIN", new=True, policy=SO_PIN_POLICY)
    with old, new:
        token.change_so_pin(old, new, force=allow_final_try)
    emit({"changed": "so"}, "SO PIN changed")

