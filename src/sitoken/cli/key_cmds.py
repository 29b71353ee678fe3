"""CLI: keys on the token, signing and verification."""

from __future__ import annotations

import click

from .. import pubkey
from ..errors import InvalidInput, NotSupported, SitokenError
from ..token import KeyInfo, KeyType, Token
from .common import (
    check_output,
    confirm,
    emit,
    final_try_option,
    force_option,
    json_option,
    login,
    login_for_writes,
    open_selected,
    overwrite_option,
    pin_options,
    read_input,
    read_pin,
    selection_options,
    state,
    step,
    write_output,
)

KEY_TYPES = click.Choice([k.value for k in KeyType])


def _maybe_login(token: Token) -> None:
    """Log in only when a PIN source was given: public objects need no PIN."""
    if "pin" in state().pin_sources:
        login(token)


def _key_line(k: KeyInfo) -> str:
    halves = "+".join(h for h, present in (("private", k.has_private), ("public", k.has_public)) if present)
    kind = k.key_type.value if k.key_type else "?"
    return f"{k.label:<24} id {k.id:<18} {kind:<8} {halves}"


@click.group("key")
def key_group() -> None:
    """Key pairs on the token: generate, list, delete, export the public key.

    \b
    Examples:
      sitoken key generate --type ec-p256 --label sign-key --pin-env PIN
      sitoken key list --json
      sitoken key export --key sign-key --out sign-key.pem
      sitoken key delete --key sign-key --pin-env PIN --force
    """


@key_group.command("generate")
@selection_options
@click.option("--type", "key_type", type=KEY_TYPES, required=True, help="Key type.")
@click.option("--label", required=True, help="Label of the new key pair (unique on the token).")
@click.option("--id", "key_id", metavar="HEX", help="CKA_ID to give the pair (default: random).")
@pin_options("pin", "user PIN")
@pin_options("so-pin", "SO (admin) PIN")
@final_try_option
@json_option
def key_generate(key_type: str, label: str, key_id: str | None, allow_final_try: bool) -> None:
    """Generate a key pair on the token (the private key never leaves it).

    OpenPGP cards generate under the admin PIN: there the SO PIN is asked
    (--so-pin-env/--so-pin-file or a prompt) instead of the user PIN, and
    --label names the key slot (sig, dec, aut).
    """
    token = open_selected()
    raw_id = _hex(key_id) if key_id else None
    login_for_writes(token, allow_final_try)
    step(f"generating {key_type} key pair {label!r} on the token ...")
    info = token.generate_key(KeyType(key_type), label, raw_id)
    emit(info.to_dict(), f"generated {_key_line(info)}")


@key_group.command("import")
@selection_options
@click.argument("file")
@click.option("--label", required=True, help="Label of the key pair on the token (unique on the token).")
@pin_options("password", "PKCS#12 password")
@pin_options("pin", "user PIN")
@final_try_option
@json_option
def key_import(file: str, label: str, allow_final_try: bool) -> None:
    """Import a key pair and its certificates from a PKCS#12 file (.p12, .pfx) onto the token.

    The private key becomes a sensitive, non-extractable token object; the holder's certificate
    and the CA certificates in the file are installed next to it. Tokens that only generate
    their own keys (OpenPGP cards) refuse before anything is asked.

    \b
    Example:
      sitoken key import holder.p12 --label sign --password-env P12_PASSWORD --pin-env PIN
    """
    from ..certs.ontoken import install_certificates
    from ..certs.parse import to_pem
    from ..certs.pkcs12 import load_pkcs12

    token = open_selected()
    if not token.capabilities.can_import_keys:
        raise NotSupported(f"token {token.info().label!r} cannot take a private key from outside: "
                           "it generates its own keys (use key generate, then csr)")
    data = read_input(file)
    with read_pin("password", "PKCS#12 password") as password:
        contents = load_pkcs12(data, password.reveal())
    login_for_writes(token, allow_final_try)
    step(f"writing the key pair {label!r} to the token ...")
    info = token.import_key_pair(contents.key_pkcs8, label)
    doc: dict[str, object] = {"key": info.to_dict(), "certificate": None}
    if contents.certificate is not None:
        try:
            installed = install_certificates(token, to_pem([contents.certificate, *contents.chain]), key=label)
        except SitokenError:
            token.delete_key(label)  # a refused certificate leaves the token as it was: no key without it
            raise
        doc["certificate"] = installed.to_dict()
    emit(doc, f"imported {_key_line(info)}" + ("\nwith its certificate" if doc["certificate"] else ""))


def _hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise InvalidInput(f"--id {text!r} is not hexadecimal") from None


@key_group.command("list")
@selection_options
@pin_options("pin", "user PIN")
@json_option
def key_list() -> None:
    """List key pairs (private keys show only when a PIN is given)."""
    token = open_selected()
    _maybe_login(token)
    keys = token.keys()
    emit([k.to_dict() for k in keys], lambda: "\n".join(map(_key_line, keys)) or "no keys")


@key_group.command("delete")
@selection_options
@click.option("--key", "selector", required=True, help="Key label, or id:HEX.")
@pin_options("pin", "user PIN")
@force_option
@json_option
def key_delete(selector: str, force: bool) -> None:
    """Delete a key pair from the token. There is no undo."""
    token = open_selected()
    login(token)
    info = token.find_key(selector)
    confirm(f"Delete key {info.label!r} (id {info.id}) for good?", force)
    token.delete_key(selector)
    emit({"deleted": info.to_dict()}, f"deleted {_key_line(info)}")


@key_group.command("export")
@selection_options
@click.option("--key", "selector", required=True, help="Key label, or id:HEX.")
@click.option("--out", "out", default="-", show_default=True, help="File to write, or - for stdout.")
@click.option("--format", "fmt", type=click.Choice(["pem", "der"]), default="pem", show_default=True)
@overwrite_option
@pin_options("pin", "user PIN")
def key_export(selector: str, out: str, fmt: str, force: bool) -> None:
    """Export a public key (SubjectPublicKeyInfo) as PEM or DER."""
    check_output(out, force=force)
    token = open_selected()
    _maybe_login(token)
    spki = token.public_key_der(selector)
    write_output(out, pubkey.spki_to_pem(spki) if fmt == "pem" else spki, force=force)
    if out != "-":
        step(f"public key of {selector!r} written to {out}")
