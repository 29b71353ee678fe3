"""CLI: the SM2 encryption key of an SKF container: import a KMC's envelope, decrypt with it (raw or CMS)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..errors import NotSupported
from ..token import Token

if TYPE_CHECKING:
    from ..signing.enveloped import KeyDecryptor, OpenedEnvelope
from .common import (
    check_output,
    cms_der,
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


def _require_sm2_encryption_keys(token: Token) -> None:
    """Refused before any PIN is asked: a token without SM2 encryption keys (SKF containers) has none to use."""
    if not token.capabilities.imports_enveloped_keys:
        raise NotSupported("SM2 encryption keys live in SKF containers: select the token with --module skf")


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
    from ..sm2.envelope import EnvelopedKey

    envelope = read_input(envelope_file)
    EnvelopedKey.from_der(envelope)  # a file that is no envelope is refused before the token is opened
    token = open_selected()
    _require_sm2_encryption_keys(token)
    login(token)
    info = token.import_enveloped_key(selector, envelope)
    emit({"key": info.label, "usage": "encryption"}, f"encryption key {info.label!r} imported")


@click.command("decrypt")
@selection_options
@click.option("--key", "selector", required=True, help="The encryption key: CONTAINER/enc.")
@click.option("--in", "in_", required=True, help="SM2 ciphertext (GM/T 0009 DER, as openssl pkeyutl -encrypt writes).")
@click.option("--out", required=True, help="The plaintext, or - for stdout.")
@click.option("--cms", is_flag=True, help="The input is CMS EnvelopedData (DER or PEM; PKCS#7 or GM/T 0010 types) "
              "addressed to the key's certificate.")
@overwrite_option
@pin_options("pin", "user PIN")
@json_option
def decrypt(selector: str, in_: str, out: str, cms: bool, force: bool) -> None:
    """Decrypt an SM2 ciphertext, or a CMS EnvelopedData, with a container's encryption key on the token.

    With --cms the token decrypts the content key (SM2) and the host the content (SM4-CBC);
    the message must be addressed to the certificate installed for the key.

    \b
    Examples:
      openssl pkeyutl -encrypt -pubin -inkey enc.pub -in msg -out msg.sm2
      sitoken decrypt --module skf --token KEY1 --key sign/enc --in msg.sm2 --out msg --pin-env PIN
      sitoken decrypt --module skf --token KEY1 --key sign/enc --cms --in msg.p7m --out msg --pin-env PIN
    """
    from ..sm2 import Sm2Ciphertext

    check_output(out, force=force, inputs=[in_])
    data = read_input(in_)
    message, ciphertext = (cms_der(data), None) if cms else (b"", Sm2Ciphertext.from_der(data))
    token = open_selected()
    _require_sm2_encryption_keys(token)
    login(token)
    details: dict[str, object] = {}
    if ciphertext is None:
        opened = _open_cms(token, message, lambda wrapped: token.decrypt_sm2(selector, wrapped.to_der()), selector)
        plain, details = opened.content, opened.to_dict()
    else:
        plain = token.decrypt_sm2(selector, data)
    write_output(out, plain, force=force, inputs=[in_])
    emit({"key": selector, "out": out, "bytes": len(plain), **details},
         f"decrypted {in_} with {selector!r} into {out}")


def _open_cms(token: Token, message: bytes, decrypt_key: KeyDecryptor, selector: str) -> OpenedEnvelope:
    # CMS and certificates are loaded here, so a raw decryption does not pay for them.
    from ..certs.ontoken import certificate_for_key
    from ..signing.enveloped import open_enveloped

    return open_enveloped(message, certificate_for_key(token, selector).der, decrypt_key)
