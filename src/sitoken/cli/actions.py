"""Click-free bodies of the commands with a fast path (tokens, sign, verify), shared by both paths.

The click commands and :mod:`sitoken.cli.fast` call these same functions, so a fast run and a
click run of one command line do the same token work and print the same text or JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import algorithms
from ..algorithms import KeyType, Mechanism
from ..errors import SignatureInvalid
from . import exitcodes
from .base import State, chosen_mechanism, emit_for, read_input

if TYPE_CHECKING:  # a verify with --pubkey opens no token and does not load sitoken.token
    from ..token import Token, TokenInfo


def token_dict(t: TokenInfo) -> dict[str, object]:
    return t.to_dict()


def token_line(t: TokenInfo) -> str:
    return (
        f"{t.label:<20} serial {t.serial:<18} {t.manufacturer} / {t.model}\n"
        f"{'':<20} user PIN: {t.pin.describe()}; SO PIN: {t.so_pin.describe()}\n"
        f"{'':<20} {t.uri}"
    )


def list_tokens(st: State, open_selected: Callable[[], Token]) -> None:
    """``sitoken tokens``: a card when ``--token pcsc:READER``, else every token of the module."""
    from ..discovery import card_selected
    from ..discovery import list_tokens as module_tokens

    infos = [open_selected().info()] if card_selected(st.token) else module_tokens(st.module)
    emit_for(st, [token_dict(t) for t in infos], lambda: "\n".join(map(token_line, infos)) or "no tokens")


def signing_mechanism(token: Token, selector: str, mechanism: str | None) -> tuple[KeyType | None, Mechanism]:
    """The key's type and the scheme to sign with (``--mechanism``, else the key type's)."""
    key_type = token.find_key(selector).key_type
    return key_type, chosen_mechanism(mechanism, key_type)


def raw_signature(token: Token, selector: str, data: bytes, mech: Mechanism, key_type: KeyType | None,
                  raw_ecdsa: bool) -> bytes:
    """A plain signature (DER for ECDSA and SM2, r||s with ``raw_ecdsa``)."""
    signature = token.sign(selector, data, mech)
    if raw_ecdsa and mech.facts.token_output == "raw-rs" and key_type is not None:
        signature = algorithms.to_token(mech, signature, key_type)
    return signature


def report_signature(st: State, selector: str, mech: Mechanism, kind: str, signature: bytes, in_: str,
                     out: str) -> None:
    emit_for(st, {"key": selector, "mechanism": mech.value, "format": kind, "signature_bytes": len(signature),
                  "out": out},
             f"signed {in_} with {selector!r} ({mech.value}, {kind}); signature in {out}")


def public_key_file(path: str) -> tuple[bytes, KeyType | None]:
    """``--pubkey FILE``: the SubjectPublicKeyInfo (DER) and its key type."""
    from .. import pubkey

    spki = pubkey.load_public_key(read_input(path))
    return spki, pubkey.key_type_of_spki(spki)


def verify_raw(spki: bytes, key_type: KeyType | None, data: bytes, signature: bytes, mechanism: str | None,
               raw_ecdsa: bool, ident: bytes | None, on_token: Token | None, selector: str | None,
               ) -> tuple[bool, Mechanism]:
    """Verify a plain signature on the host (or on the token with ``on_token`` and a key)."""
    mech = chosen_mechanism(mechanism, key_type)
    if raw_ecdsa and mech.facts.token_output == "raw-rs":
        signature = algorithms.from_token(mech, signature)
    if on_token is not None and selector:
        on_token.sm2_id = ident
        return on_token.verify(selector, data, signature, mech), mech
    from .. import pubkey

    return pubkey.verify_host(spki, data, signature, mech, sm2_id=ident), mech


def verdict(st: State, valid: bool, doc: dict[str, object], reason: str = "") -> int:
    """Print the verdict (one JSON document with --json); the exit status: 0 valid, 1 not."""
    message = "signature valid" if valid else f"signature NOT valid{': ' + reason if reason else ''}"
    if not valid:
        # The documented error fields, as every failed --json run carries them.
        doc = {**doc, "error": SignatureInvalid.code, "message": message, "exit_code": exitcodes.SIGNATURE_INVALID}
    emit_for(st, doc, message)
    return exitcodes.OK if valid else exitcodes.SIGNATURE_INVALID
