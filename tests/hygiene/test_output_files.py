"""Outputs: never over the input, never over an existing file without --force, never through a link.

Each refusal is checked to change nothing (the input, the existing output, the link's target)
and to come before any token work: the refused runs give a wrong PIN and still exit 7, not 4.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from sitoken.cli import cli
from sitoken.pkcs11 import Pkcs11Token
from sitoken.token import KeyType

pytestmark = pytest.mark.softhsm

ENV = {"PIN": "user7pin3", "BAD": "wrong9pin"}
DOCUMENT = os.urandom(200 * 1024)


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=ENV)


@pytest.fixture()
def signing_token(token: Pkcs11Token) -> str:
    token.generate_key(KeyType.EC_P256, "k")
    return token.label


def _sign(label: str, doc: Path | str, out: Path | str, *extra: str, pin: str = "PIN") -> Result:
    return _run("sign", "--token", label, "--key", "k", "--in", str(doc), "--out", str(out), "--pin-env", pin,
                "--json", *extra)


def test_sign_never_overwrites_its_input(tmp_path: Path, signing_token: str) -> None:
    doc = tmp_path / "contract.pdf"
    doc.write_bytes(DOCUMENT)
    os.link(doc, tmp_path / "hard-link")
    (tmp_path / "sym-link").symlink_to(doc)
    (tmp_path / "sub").mkdir()
    # The same file under four names: itself, ./-relative, a hard link, and the input named by a link.
    cases = [(doc, doc), (doc, tmp_path / "sub" / ".." / "contract.pdf"), (doc, tmp_path / "hard-link"),
             (tmp_path / "sym-link", doc)]
    for source, out in cases:
        done = _sign(signing_token, source, out, "--force", pin="BAD")
        assert done.exit_code == 7, (source, out, done.output)
        assert '"error": "unsafe-file"' in done.stdout and "never overwrites its input" in done.stderr
        assert doc.read_bytes() == DOCUMENT, f"the input was changed by --in {source} --out {out}"


def test_an_existing_output_needs_force_and_is_replaced_whole(tmp_path: Path, signing_token: str) -> None:
    doc, sig = tmp_path / "doc", tmp_path / "doc.sig"
    doc.write_bytes(DOCUMENT)
    sig.write_bytes(b"an earlier signature")
    refused = _sign(signing_token, doc, sig, pin="BAD")  # refused before the PIN is sent: 7, not 4
    assert refused.exit_code == 7, refused.output
    assert '"error": "output-exists"' in refused.stdout and "pass --force" in refused.stderr
    assert sig.read_bytes() == b"an earlier signature"
    before = os.stat(sig).st_ino
    forced = _sign(signing_token, doc, sig, "--force")
    assert forced.exit_code == 0, forced.output
    assert sig.read_bytes() != b"an earlier signature"
    # A new inode renamed over the name (no in-place truncation a crash could leave half done),
    # and no temporary file left beside it.
    assert os.stat(sig).st_ino != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc", "doc.sig"]
    verified = _run("verify", "--token", signing_token, "--key", "k", "--in", str(doc), "--sig", str(sig))
    assert verified.exit_code == 0, verified.output


def test_an_output_link_is_refused_and_its_target_untouched(tmp_path: Path, signing_token: str) -> None:
    doc, victim, link = tmp_path / "doc", tmp_path / "victim", tmp_path / "doc.sig"
    doc.write_bytes(DOCUMENT)
    victim.write_bytes(b"precious")
    link.symlink_to(victim)
    dangling = tmp_path / "dangling.sig"
    dangling.symlink_to(tmp_path / "would-be-created")
    for out in (link, dangling):
        done = _sign(signing_token, doc, out, "--force", pin="BAD")
        assert done.exit_code == 7, done.output
        assert "is a symbolic link: sitoken never writes through a link" in done.stderr
    assert victim.read_bytes() == b"precious" and link.is_symlink()
    assert not (tmp_path / "would-be-created").exists()


def _commands(group: click.Group, ctx: click.Context,
              prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found: list[tuple[tuple[str, ...], click.Command]] = []
    for name in group.list_commands(ctx):  # the root loads its commands on demand
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            found += _commands(command, ctx, (*prefix, name))
        if command is not None:
            found.append(((*prefix, name), command))
    return found


def test_every_command_with_out_has_force() -> None:
    ctx = click.Context(cli)
    with_out = {path: {o for p in c.params for o in getattr(p, "opts", [])} for path, c in _commands(cli, ctx)}
    writers = {" ".join(path) for path, opts in with_out.items() if "--out" in opts}
    assert writers >= {"sign", "csr", "key export", "cert export", "cert self-sign", "ca issue"}
    assert {w for w in writers if "--force" not in with_out[tuple(w.split())]} == set()


@pytest.mark.parametrize("command", [
    ("key", "export", "--key", "k"),
    ("cert", "export", "--key", "k"),
    ("csr", "--key", "k", "--subject", "CN=x", "--pin-env", "BAD"),
    ("cert", "self-sign", "--key", "k", "--subject", "CN=x", "--pin-env", "BAD"),
])
def test_each_writing_command_refuses_an_existing_output_before_token_work(
        tmp_path: Path, signing_token: str, command: tuple[str, ...]) -> None:
    out = tmp_path / "out.pem"
    out.write_bytes(b"keep me")
    done = _run(*command, "--token", signing_token, "--out", str(out))
    assert done.exit_code == 7 and "exists: pass --force" in done.stderr, done.output
    assert out.read_bytes() == b"keep me"


def test_ca_issue_never_writes_over_its_request(tmp_path: Path, signing_token: str) -> None:
    req = tmp_path / "req.pem"
    assert _run("csr", "--token", signing_token, "--key", "k", "--subject", "CN=x", "--out", str(req),
                "--pin-env", "PIN").exit_code == 0
    assert _run("ca", "init", str(tmp_path / "ca")).exit_code == 0
    request = req.read_bytes()
    done = _run("ca", "issue", str(tmp_path / "ca"), "--csr", str(req), "--out", str(req), "--force")
    assert done.exit_code == 7 and "never overwrites its input" in done.stderr, done.output
    assert req.read_bytes() == request


def test_dev_null_and_a_named_pipe_are_written_in_place(tmp_path: Path, signing_token: str) -> None:
    """No file to replace there: renaming over /dev/null would swap the device for a file."""
    doc = tmp_path / "doc"
    doc.write_bytes(DOCUMENT)
    done = _sign(signing_token, doc, "/dev/null")
    assert done.exit_code == 0, done.output
    assert Path("/dev/null").is_char_device()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert _sign(signing_token, doc, fifo).exit_code == 0
        assert len(os.read(reader, 4096)) > 60 and fifo.is_fifo()
    finally:
        os.close(reader)


def test_sign_batch_never_writes_a_signature_over_an_input(tmp_path: Path, signing_token: str) -> None:
    doc = tmp_path / "doc"
    doc.write_bytes(DOCUMENT)
    done = _run("sign-batch", "--token", signing_token, "--key", "k", "--out-dir", str(tmp_path), "--suffix", "",
                "--force", "--pin-env", "PIN", str(doc))
    assert done.exit_code == 7 and "never overwrites its input" in done.stderr, done.output
    assert doc.read_bytes() == DOCUMENT
