"""Shared CLI plumbing: selection options, PIN sources, output in text or JSON."""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..errors import InvalidInput
from ..pin import HolderContext, Pin, PinPolicy
from ..token import Mechanism, Token
from .base import (
    State,
    check_output,
    emit_for,
    pin_from_source,
    read_input,
    sm2_id_bytes,
    write_output,
)

if TYPE_CHECKING:
    from ..skf import ApplicationTemplate, DeviceKey

F = TypeVar("F", bound=Callable[..., Any])

# Re-exported for the command modules, which take all their plumbing from here.
__all__ = ["State", "check_output", "read_input", "sm2_id_bytes", "write_output"]


def state() -> State:
    ctx = click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


def _store(attr: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value not in (None, False):
            setattr(state(), attr, value)

    return callback


SM2_ID_OPTION = click.option(
    "--sm2-id", metavar="TEXT", help="SM2: the signer ID that Z binds (default GM/T 0009's 1234567812345678).",
)


#: ``--mechanism``: a signature scheme by its sitoken name.
MECHANISMS = click.Choice([m.value for m in Mechanism])


def json_option(f: F) -> F:
    return click.option(
        "--json", "json_", is_flag=True, expose_value=False, callback=_store("json"),
        help="Print one JSON document with stable field names.",
    )(f)


def selection_options(f: F) -> F:
    """--module and --token, accepted before or after the command name."""
    f = click.option(
        "--token", "token_", metavar="LABEL|SERIAL|pkcs11:URI|pcsc:READER|DEVICE[/APP]", expose_value=False,
        callback=_store("token"),
        help="Which token (default: the only one present); with an SKF module, DEVICE[/APPLICATION].",
    )(f)
    return click.option(
        "--module", "module_", metavar="PATH|NAME|skf[:PATH]", expose_value=False, callback=_store("module"),
        envvar=None,
        help="PKCS#11 module: a path, softhsm, opensc, p11-kit-client, p11-kit-proxy, "
             "a p11-kit name, or sim; "
             "skf for the software SKF token, skf:PATH for a vendor's SKF library.",
    )(f)


def tracing_options(f: F) -> F:
    """-v / -vv / --debug, --log-file and --pinentry: how a run talks about itself and asks for PINs."""
    f = click.option(
        "--pinentry", "pinentry_", metavar="PROGRAM", is_flag=False, flag_value="pinentry", expose_value=False,
        envvar="SITOKEN_PINENTRY", callback=_store("pinentry"),
        help="Ask for PINs with a GnuPG pinentry dialog (default program: pinentry; e.g. pinentry-gnome3).",
    )(f)
    f = click.option(
        "--log-file", metavar="FILE", expose_value=False, is_eager=True, callback=_store("log_file"),
        help="Write the trace to FILE instead of stderr.",
    )(f)
    f = click.option(
        "--debug", is_flag=True, expose_value=False, is_eager=True, callback=_store("debug"),
        help="Trace every PKCS#11, SKF and APDU call (same as -vv or SITOKEN_LOG=debug).",
    )(f)
    return click.option(
        "-v", "--verbose", count=True, expose_value=False, is_eager=True, callback=_store("verbose"),
        help="-v: show each step; -vv: also every token call with its arguments (PINs redacted).",
    )(f)


def start_tracing() -> None:
    """Turn the collected -v/--debug/--log-file (or SITOKEN_LOG) into the library's trace setting."""
    from .. import trace

    st = state()
    level = {0: None, 1: trace.STEPS}.get(st.verbose, trace.CALLS)
    trace.configure(trace.CALLS if st.debug else level, st.log_file)


def sentence(text: str) -> str:
    """Capitalise the first letter only: 'SO PIN' stays 'SO PIN', 'user PIN' becomes 'User PIN'."""
    return text[:1].upper() + text[1:]


def pin_options(name: str, label: str) -> Callable[[F], F]:
    """``--NAME-env VAR``, ``--NAME-file PATH|-`` and ``--NAME-fd N`` for one PIN (never the PIN itself)."""

    def decorate(f: F) -> F:
        for kind, meta, text in (
            ("fd", "N", f"read the {label} from file descriptor N, one line (for scripts: 3<pinfile)"),
            ("file", "PATH|-", f"read the {label} from a file (mode 600), or '-' for a line of stdin"),
            ("env", "VAR", f"read the {label} from the environment variable named VAR"),
        ):
            f = click.option(
                f"--{name}-{kind}", f"{name.replace('-', '_')}_{kind}", metavar=meta,
                type=click.IntRange(min=0) if kind == "fd" else None,
                expose_value=False, help=sentence(text) + ".",
                callback=_pin_source(name, kind),
            )(f)
        return f

    return decorate


def _pin_source(name: str, kind: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is not None and value != "":
            state().pin_sources[name] = (kind, str(value))

    return callback


def read_pin(name: str, label: str, *, new: bool = False, policy: PinPolicy | None = None,
             holder: HolderContext | None = None) -> Pin:
    """A PIN from its option's source, else a hidden prompt (twice for a new PIN); a new PIN
    that breaks ``policy`` (with what ``holder`` it must not contain) is asked again at once."""
    st = state()
    source = st.pin_sources.get(name)
    if source is not None:
        return pin_from_source(st, label, *source)
    if st.pinentry:
        from .pinentry import PinentryDialog

        ask: Callable[[str], str] = PinentryDialog(st.pinentry).ask
    elif sys.stdin.isatty():
        ask = _terminal_prompt
    else:
        raise click.UsageError(
            f"no {label} given: use --{name}-env VAR, --{name}-file PATH|- or --{name}-fd N "
            "(PINs never go on the command line)"
        )
    return _ask_pin(ask, label, new, policy, holder)


def _terminal_prompt(prompt: str) -> str:
    return str(click.prompt(prompt, hide_input=True))


def _ask_pin(ask: Callable[[str], str], label: str, new: bool, policy: PinPolicy | None,
             holder: HolderContext | None = None) -> Pin:
    """Ask until the PIN passes the policy (checked at once) and, for a new PIN, is typed twice alike."""
    while True:
        pin = Pin(ask(sentence(label)))
        if not new:
            return pin
        problems = policy.violations(pin, holder=holder) if policy is not None else []
        if problems:
            pin.wipe()
            click.echo(f"That {label} does not meet the policy: " + "; ".join(problems) + ". Try another.", err=True)
            continue
        with Pin(ask(f"Repeat the {label}")) as again:
            if again == pin:
                return pin
        pin.wipe()
        click.echo(f"The two entries differ. Type the {label} again.", err=True)


def device_key_options(f: F) -> F:
    """``--device-key-env VAR`` / ``--device-key-file PATH``: an SKF device's authentication key."""
    f = click.option("--device-key-file", metavar="PATH", expose_value=False,
                     callback=_pin_source("device-key", "file"),
                     help="SKF: read the device authentication key (32 hex digits) from a file.")(f)
    return click.option("--device-key-env", metavar="VAR", expose_value=False,
                        callback=_pin_source("device-key", "env"),
                        help="SKF: read the device authentication key (32 hex digits) from a variable.")(f)


def read_device_key() -> DeviceKey | None:
    """The SKF device key from its option, else $SITOKEN_SKF_DEVICE_KEY_FILE; None when neither is given."""
    from ..skf.devauth import DeviceKey

    kind, where = state().pin_sources.get("device-key", ("", ""))
    if kind == "env":
        return DeviceKey.from_env(where)
    path = where or os.environ.get("SITOKEN_SKF_DEVICE_KEY_FILE")
    return DeviceKey.from_file(path) if path else None


def open_selected(
    policy: PinPolicy | None = None, *, device_key: DeviceKey | None = None,
    template: ApplicationTemplate | None = None,
) -> Token:
    from ..discovery import open_token

    st = state()
    token = open_token(st.token, module=st.module, policy=policy, device_key=device_key, template=template)
    # Log out and close sessions when the command ends: login state outlives objects.
    click.get_current_context().call_on_close(token.close)
    return token


def emit(data: Any, text: str | Callable[[], str]) -> None:
    """Print ``data`` as JSON with --json, else the human text."""
    emit_for(state(), data, text)


def step(message: str) -> None:
    """Progress for humans on stderr, so that stdout stays clean for data."""
    if not state().json:
        click.echo(message, err=True)


def confirm(question: str, force: bool) -> None:
    """Ask before destroying anything; --force answers yes for scripts."""
    if force:
        return
    if not sys.stdin.isatty():
        click.echo(f"{question} No terminal to ask on: pass --force to confirm.", err=True)
        raise click.Abort()
    click.confirm(question, abort=True)


def force_option(f: F) -> F:
    return click.option("--force", is_flag=True, help="Do not ask for confirmation.")(f)


def overwrite_option(f: F) -> F:
    """``--force`` on a command that writes a file: replace an existing one."""
    return click.option("--force", is_flag=True, help="Replace the output file if it exists.")(f)


def cms_der(data: bytes) -> bytes:
    """CMS files come as DER or as PEM ('-----BEGIN CMS-----' / PKCS7)."""
    if not data.lstrip().startswith(b"-----BEGIN"):
        return data
    lines = [line for line in data.strip().splitlines() if not line.startswith(b"-----")]
    try:
        return base64.b64decode(b"".join(lines), validate=True)
    except ValueError:
        raise InvalidInput("the CMS file is neither DER nor valid PEM") from None


def final_try_option(f: F) -> F:
    return click.option(
        "--allow-final-try", is_flag=True,
        help="Send the PIN even if one more failure would lock the token.",
    )(f)


def login(token: Token, allow_final_try: bool = False) -> None:
    pin = read_pin("pin", "user PIN")
    with pin:
        token.login(pin, force=allow_final_try)


def login_for_writes(token: Token, allow_final_try: bool = False) -> None:
    """Log in as whoever may create objects: the user, or the admin on OpenPGP cards."""
    if token.capabilities.keygen_needs_so_pin:
        with read_pin("so-pin", "SO (admin) PIN") as so_pin:
            token.login_admin(so_pin, force=allow_final_try)
    else:
        login(token, allow_final_try)
