"""CLI: the SM2 encryption key of an SKF container: import a KMC's envelope, decrypt with it."""

from __future__ import annotations

import click

from ..errors import NotSupported
from ..token import Token
from .common import (
    check_output,
    emit,
    json_option,
    login,
    open_selected,
    overwrite_option,
    pin_options,
    read_input,
    selection_options,
    write_output,
)


def _skf(token: Token, what: str) -> object:
    if not hasattr(token, what):
        raise NotSupported("SM2 encryption keys live in SKF containers: select the token with --module skf")
    return getattr(token, what)


@click.command("import-envelope")
@selection_options
@click.option("--key", "selector", required=True, help="The container (its signature key opens the envelope).")
@click.option("--envelope", "envelope_file", required=True, help="The KMC's SM2EnvelopedKey (DER).")
@pin_options("pin", "user PIN")
@json_option
def import_envelope(selector: str, envelope_file: str) -> None:
    """Import a KMC's encryption key pair into the container of a signature key (SKF_ImportECCKeyPair).

    The token opens the envelope with the container's signature key; a wrong key or a damaged
    envelope is refused and the container stays as it was.

    \b
    Examples:
      sitoken import-envelope --module skf --token KEY1 --key sign --envelope enc.env --pin-env PIN
      sitoken cert import enc-cert.pem --module skf --token KEY1 --key sign/enc --pin-env PIN
    """
    from ..skf.blobs import enveloped_key_blob
    from ..sm2.envelope import EnvelopedKey

    envelope = EnvelopedKey.from_der(read_input(envelope_file))
    token = open_selected()
    importer = _skf(token, "import_encryption_key")
    login(token)
    info = importer(selector, enveloped_key_blob(envelope, token.library.ulong))  # type: ignore[operator, attr-defined]
    emit({"key": info.label, "usage": "encryption"}, f"encryption key {info.label!r} imported")


@click.command("decrypt")
@selection_options
@click.option("--key", "selector", required=True, help="The encryption key: CONTAINER/enc.")
@click.option("--in", "in_", required=True, help="SM2 ciphertext (GM/T 0009 DER, as openssl pkeyutl -encrypt writes).")
@click.option("--out", required=True, help="The plaintext, or - for stdout.")
@overwrite_option
@pin_options("pin", "user PIN")
@json_option
def decrypt(selector: str, in_: str, out: str, force: bool) -> None:
    """Decrypt an SM2 ciphertext with a container's encryption key on the token.

    \b
    Examples:
      openssl pkeyutl -encrypt -pubin -inkey enc.pub -in msg -out msg.sm2
      sitoken decrypt --module skf --token KEY1 --key sign/enc --in msg.sm2 --out msg --pin-env PIN
    """
    from ..sm2 import Sm2Ciphertext

    check_output(out, force=force, inputs=[in_])
    ciphertext = Sm2Ciphertext.from_der(read_input(in_))
    token = open_selected()
    decryptor = _skf(token, "decrypt")
    login(token)
    plain: bytes = decryptor(selector, ciphertext)  # type: ignore[operator]
    write_output(out, plain, force=force, inputs=[in_])
    emit({"key": selector, "out": out, "bytes": len(plain)}, f"decrypted {in_} with {selector!r} into {out}")
