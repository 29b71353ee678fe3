"""``sitoken sign-batch``: many files, one key on one or more tokens, one signature file each."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import click

from .. import algorithms
from ..discovery import open_token
from ..errors import InvalidInput, NotSupported
from ..safefiles import check_output, write_file
from ..signing.pool import pool_member, sign_many
from ..token import KeyType, Mechanism, Token
from .common import emit, final_try_option, json_option, pin_options, read_pin, state


@click.command("sign-batch")
@click.option("--module", "module", metavar="PATH|NAME|skf[:PATH]",
              help="PKCS#11 module or SKF library (as for every command).")
@click.option("--token", "tokens", multiple=True, metavar="LABEL|SERIAL|pkcs11:URI|DEVICE[/APP]",
              help="A token holding the key; repeat to sign on several side by side (PKCS#11 tokens).")
@click.option("--key", "selector", required=True, help="Key label, or id:HEX (the same on every token).")
@click.option("--out-dir", required=True, type=click.Path(file_okay=False), help="Where the signatures go.")
@click.option("--suffix", default=".sig", show_default=True, help="Appended to each input's name.")
@click.option("--mechanism", type=click.Choice([m.value for m in Mechanism]), help="Default: the key type's.")
@click.option("--raw-ecdsa", is_flag=True, help="ECDSA signatures as raw r||s instead of DER.")
@click.option("--sessions", type=click.IntRange(min=1), default=1, show_default=True,
              help="Sessions (signing threads) per token.")
@click.option("--force", is_flag=True, help="Overwrite signature files that exist.")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@pin_options("pin", "user PIN")
@final_try_option
@json_option
def sign_batch(module: str | None, tokens: tuple[str, ...], selector: str, out_dir: str, suffix: str,
               mechanism: str | None, raw_ecdsa: bool, sessions: int, force: bool, files: tuple[str, ...],
               allow_final_try: bool) -> None:
    """Sign many files with one key, spread over one or more tokens; signatures in --out-dir.

    Without FILE arguments the paths are read from stdin, one per line. Each
    signature is written as OUT-DIR/NAME.sig. Every token must hold the key
    (by label or id) and accept the same user PIN. One SKF token signs on the
    Python path (its SM2 key's Z computed once).

    \b
    Examples:
      sitoken sign-batch --token demo --key k1 --out-dir sigs/ --pin-env PIN *.pdf
      find in/ -name '*.xml' | sitoken sign-batch --token t1 --token t2 --key k1 --out-dir sigs/ --pin-env PIN
      sitoken sign-batch --module skf --token ukey1 --key sign1 --out-dir sigs/ --pin-env PIN *.xml
    """
    paths = _inputs(files)
    outputs = _outputs(paths, Path(out_dir), suffix, force)
    mech = Mechanism(mechanism) if mechanism else None
    with ExitStack() as stack:
        opened = _opened(stack, module, tokens or (state().token,), allow_final_try)
        signatures, key_type, names = _signatures(opened, selector, sessions, mech, raw_ecdsa, paths)
        written = _write_all(signatures, outputs, paths, force)
    used = mech or key_type.default_mechanism
    pairs = [{"input": p, "signature": str(o)} for p, o in zip(paths, outputs, strict=True)]
    emit({"signed": written, "key": selector, "mechanism": used.value, "tokens": names,
          "out_dir": out_dir, "files": pairs},
         f"signed {written} files with {selector!r} ({used.value}) on {len(names)} token(s); signatures in {out_dir}")


def _signatures(opened: list[Token], selector: str, sessions: int, mech: Mechanism | None, raw_ecdsa: bool,
                paths: list[str]) -> tuple[Iterator[bytes], KeyType, list[str]]:
    """The pool over PKCS#11 tokens; one token of another driver (SKF) signs on the Python path."""
    try:
        members = [pool_member(token, selector, sessions=sessions) for token in opened]
    except NotSupported:
        if len(opened) != 1:
            raise
        return _one_token(opened[0], selector, mech, raw_ecdsa, paths)
    signatures = sign_many(members, _read(paths), mech, ecdsa_format="raw" if raw_ecdsa else "der")
    return signatures, members[0].key.key_type, [m.token for m in members]


def _one_token(token: Token, selector: str, mech: Mechanism | None, raw_ecdsa: bool,
               paths: list[str]) -> tuple[Iterator[bytes], KeyType, list[str]]:
    key_type = token.find_key(selector).key_type
    if key_type is None:
        raise NotSupported(f"key {selector!r} has a type sitoken cannot sign with")
    signatures = token.sign_many(selector, _read(paths), mech)
    scheme = mech or key_type.default_mechanism
    if raw_ecdsa and scheme.facts.token_output == "raw-rs":
        signatures = (algorithms.to_token(scheme, s, key_type) for s in signatures)
    return signatures, key_type, [token.info().label]


def _inputs(files: tuple[str, ...]) -> list[str]:
    paths = list(files) or [line.strip() for line in sys.stdin if line.strip()]
    if not paths:
        raise click.UsageError("give the files to sign as arguments, or their paths on stdin")
    for path in paths:
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            raise InvalidInput(f"{path} is not a readable file; nothing was signed")
    return paths


def _outputs(paths: list[str], out_dir: Path, suffix: str, force: bool) -> list[Path]:
    outputs = [out_dir / (Path(p).name + suffix) for p in paths]
    seen: dict[Path, str] = {}
    for path, out in zip(paths, outputs, strict=True):
        if out in seen:
            raise InvalidInput(f"{seen[out]} and {path} would both be signed into {out}; nothing was signed")
        seen[out] = path
        check_output(out, force=force, inputs=paths)  # before any PIN try or signature
    out_dir.mkdir(parents=True, exist_ok=True)
    return outputs


def _opened(stack: ExitStack, module: str | None, selections: tuple[str | None, ...],
            allow_final_try: bool) -> list[Token]:
    opened: list[Token] = []
    for selection in selections:
        token = open_token(selection, module=module or state().module)
        stack.callback(token.close)
        opened.append(token)
    with read_pin("pin", "user PIN") as pin:
        for token in opened:
            token.login(pin, force=allow_final_try)
    return opened


def _read(paths: list[str]) -> Iterator[bytes]:
    for path in paths:
        yield Path(path).read_bytes()


def _write_all(signatures: Iterator[bytes], outputs: list[Path], paths: list[str], force: bool) -> int:
    """Write each signature as it comes (a failure keeps the ones before it); a bar on a terminal."""
    show = sys.stderr.isatty() and not state().json
    written = 0
    with click.progressbar(length=len(outputs), label="signing", file=sys.stderr, hidden=not show) as bar:
        for out, signature in zip(outputs, signatures, strict=False):  # fewer only on error
            write_file(out, signature, force=force, inputs=paths)
            written += 1
            bar.update(1)
    return written

