"""CLI: keys on the token, signing and verification."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import pubkey
from ..errors import InvalidInput
from ..token import KeyInfo, KeyType, Mechanism, Token
from . import exitcodes
from .common import (
    confirm,
    emit,
    final_try_option,
    force_option,
    json_option,
    open_selected,
    pin_options,
    read_pin,
    selection_options,
    state,
    step,
)

KEY_TYPES = click.Choice([k.value for k in KeyType])
MECHANISMS = click.Choice([m.value for m in Mechanism])


def login(token: Token, allow_final_try: bool = False) -> None:
    pin = read_pin("pin", "user PIN")
    with pin:
        token.login(pin, force=allow_final_try)


def _maybe_login(token: Token) -> None:
    """Log in only when a PIN source was given: public objects need no PIN."""
    if "pin" in state().pin_sources:
        login(token)


def _key_line(k: KeyInfo) -> str:
    halves = "+".join(h for h, present in (("private", k.has_private), ("public", k.has_public)) if present)
    kind = k.key_type.value if k.key_type else "?"
    return f"{k.label:<24} id {k.id:<18} {kind:<8} {halves}"


def read_input(path: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None


def write_output(path: str, data: bytes) -> None:
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}") from None


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
@final_try_option
@json_option
def key_generate(key_type: str, label: str, key_id: str | None, allow_final_try: bool) -> None:
    """Generate a key pair on the token (the private key never leaves it)."""
    token = open_selected()
    raw_id = _hex(key_id) if key_id else None
    login(token, allow_final_try)
    step(f"generating {key_type} key pair {label!r} on the token ...")
    info = token.generate_key(KeyType(key_type), label, raw_id)
    emit(info.to_dict(), f"generated {_key_line(info)}")


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
@pin_options("pin", "user PIN")
def key_export(selector: str, out: str, fmt: str) -> None:
    """Export a public key (SubjectPublicKeyInfo) as PEM or DER."""
    token = open_selected()
    _maybe_login(token)
    spki = token.public_key_der(selector)
    write_output(out, pubkey.spki_to_pem(spki) if fmt == "pem" else spki)
    if out != "-":
        step(f"public key of {selector!r} written to {out}")


@click.command("sign")
@selection_options
@click.option("--key", "selector", required=True, help="Key label, or id:HEX.")
@click.option("--in", "in_", required=True, help="File to sign, or - for stdin.")
@click.option("--out", "out", required=True, help="Signature file, or - for stdout.")
@click.option("--mechanism", type=MECHANISMS, help="Signature scheme (default: the key type's).")
@click.option("--raw-ecdsa", is_flag=True, help="ECDSA signature as raw r||s instead of DER.")
@pin_options("pin", "user PIN")
@final_try_option
@json_option
def sign(selector: str, in_: str, out: str, mechanism: str | None, raw_ecdsa: bool,
         allow_final_try: bool) -> None:
    """Sign a file with a key on the token.

    \b
    Examples:
      sitoken sign --key sign-key --in contract.pdf --out contract.sig --pin-env PIN
      sitoken sign --key rsa-key --mechanism rsa-pss-sha256 --in data --out data.sig
    """
    token = open_selected()
    data = read_input(in_)
    login(token, allow_final_try)
    key_type = token.find_key(selector).key_type
    mech = _chosen_mechanism(mechanism, key_type)
    signature = token.sign(selector, data, mech)
    if raw_ecdsa and mech.family == "ec" and key_type is not None:
        signature = pubkey.ecdsa_der_to_raw(signature, pubkey.curve_size(key_type))
    write_output(out, signature)
    emit({"key": selector, "mechanism": mech.value, "signature_bytes": len(signature), "out": out},
         f"signed {in_} with {selector!r} ({mech.value}); signature in {out}")


@click.command("verify")
@selection_options
@click.option("--key", "selector", help="Key label or id:HEX on the token.")
@click.option("--pubkey", "pubkey_file", help="Verify with this public key file (PEM/DER) instead.")
@click.option("--in", "in_", required=True, help="The signed file, or - for stdin.")
@click.option("--sig", "sig", required=True, help="The signature file.")
@click.option("--mechanism", type=MECHANISMS, help="Signature scheme (default: the key type's).")
@click.option("--raw-ecdsa", is_flag=True, help="The ECDSA signature is raw r||s.")
@click.option("--on-token", is_flag=True, help="Let the token verify instead of the host.")
@json_option
def verify(selector: str | None, pubkey_file: str | None, in_: str, sig: str, mechanism: str | None,
           raw_ecdsa: bool, on_token: bool) -> None:
    """Verify a signature. Exits 0 when valid and 1 when not.

    \b
    Examples:
      sitoken verify --key sign-key --in contract.pdf --sig contract.sig
      sitoken verify --pubkey sign-key.pem --in contract.pdf --sig contract.sig
    """
    data, signature = read_input(in_), read_input(sig)
    spki, key_type, token = _verification_key(selector, pubkey_file)
    mech = _chosen_mechanism(mechanism, key_type)
    if raw_ecdsa and mech.family == "ec":
        signature = pubkey.ecdsa_raw_to_der(signature)
    if on_token and token is not None and selector:
        valid = token.verify(selector, data, signature, mech)
    else:
        valid = pubkey.verify_host(spki, data, signature, mech)
    emit({"valid": valid, "mechanism": mech.value, "verified_by": "token" if on_token else "host"},
         "signature valid" if valid else "signature NOT valid")
    if not valid:
        # The verdict is already printed (one JSON document with --json): exit 1 and nothing more.
        click.get_current_context().exit(exitcodes.SIGNATURE_INVALID)


def _verification_key(selector: str | None, pubkey_file: str | None) -> tuple[bytes, KeyType | None, Token | None]:
    if pubkey_file:
        spki = pubkey.load_public_key(read_input(pubkey_file))
        return spki, pubkey.key_type_of_spki(spki), None
    if not selector:
        raise click.UsageError("give --key (a key on the token) or --pubkey FILE")
    token = open_selected()
    return token.public_key_der(selector), token.find_key(selector).key_type, token


def _chosen_mechanism(mechanism: str | None, key_type: KeyType | None) -> Mechanism:
    if mechanism:
        return Mechanism(mechanism)
    if key_type is None:
        raise InvalidInput("cannot tell the key type; pass --mechanism")
    return key_type.default_mechanism
