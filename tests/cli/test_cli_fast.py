"""The click-free fast path (sitoken.cli.fast): same outputs and exit statuses as the click app,
without importing click, and it leaves every line it does not fully understand to click."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cli_support import Outcome
from sitoken.cli import exitcodes
from sitoken.cli.fast import parse

pytestmark = pytest.mark.softhsm

# The same command line, once through `main` (fast path first) and once straight into click.
FAST = "import sys; from sitoken.cli import main; sys.exit(main(sys.argv[1:]))"
CLICK = "import sys; from sitoken.cli.app import run_click; sys.exit(run_click(sys.argv[1:]))"
# The PINs tests/cli/conftest.py gives the sim tokens, by variable name.
PINS = {"PIN": "user7pin3", "BAD_PIN": "wrong9pin"}
LOADED = ("import sys; from sitoken.cli import main; status = main(sys.argv[1:]); "
          "print(' '.join(sorted(sys.modules)), file=sys.stderr); sys.exit(status)")


def _run(code: str, args: list[str], input: str = "") -> Outcome:
    # Without coverage's hand-off to child processes (scripts/test.sh measures coverage): its
    # tracer imports datetime, tempfile and more, which would hide what the CLI itself loads.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    done = subprocess.run([sys.executable, "-c", code, *args], input=input, capture_output=True, text=True,
                          env={**env, **PINS}, timeout=120)
    return Outcome(done.returncode, done.stdout, done.stderr)


@pytest.fixture()
def signed(cli, sim_token: str, tmp_path: Path) -> Callable[[str], list[str]]:  # type: ignore[no-untyped-def]
    """A P-256 key, a file and its signature; returns a command line with {in}, {sig}... filled in."""
    t = ("--token", sim_token)
    assert cli(*t, "key", "generate", "--type", "ec-p256", "--label", "k", "--pin-env", "PIN").code == 0
    (tmp_path / "doc").write_bytes(b"a small file to sign\n" * 10)
    (tmp_path / "other").write_bytes(b"not what was signed\n")
    (tmp_path / "bad.pem").write_bytes(b"-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n")
    assert cli(*t, "sign", "--key", "k", "--in", str(tmp_path / "doc"), "--out", str(tmp_path / "sig"),
               "--pin-env", "PIN").code == 0
    assert cli(*t, "key", "export", "--key", "k", "--out", str(tmp_path / "pub.pem")).code == 0
    names = {n: str(tmp_path / n) for n in ("doc", "other", "sig", "pub.pem", "bad.pem", "out", "missing")}
    return lambda line: [part.format(token=sim_token, **{k.replace(".", "_"): v for k, v in names.items()})
                         for part in line.split()]


# Lines whose output does not depend on the run (ECDSA signatures differ: those are raw r||s, 64 bytes).
SAME_OUTPUT = [
    "tokens --json",
    "--json tokens",
    "tokens --token {token}",
    "verify --pubkey {pub_pem} --in {doc} --sig {sig}",
    "verify --pubkey={pub_pem} --in {doc} --sig {sig} --json",
    "verify --pubkey {pub_pem} --in {other} --sig {sig} --json",  # not valid: exit 1 and the error fields
    "verify --token {token} --key k --in {other} --sig {sig}",
    "verify --token {token} --key k --on-token --in {doc} --sig {sig} --json",
    "verify --pubkey {bad_pem} --in {doc} --sig {sig} --json",  # not a key: exit 7
    "verify --pubkey {pub_pem} --in {missing} --sig {sig} --json",
    "sign --token {token} --key k --in {doc} --out {out} --raw-ecdsa --pin-env PIN --json",
    "sign --token {token} --key k --in {doc} --out {sig} --pin-env PIN --json",  # output exists: exit 7
    "sign --token {token} --key nokey --in {doc} --out {out} --pin-env PIN --json",  # exit 8
    "sign --token {token} --key k --in {doc} --out {out} --pin-env UNSET_VARIABLE",  # exit 7
    "sign --token {token} --key k --in {doc} --out {out} --pin-file - --force --mechanism ecdsa-sha384 "
    "--raw-ecdsa --json",
    "sign --token nosuchtoken --key k --in {doc} --out {out} --pin-env PIN --json",  # exit 3
]


def test_fast_path_prints_what_click_prints(signed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    statuses = set()
    for line in SAME_OUTPUT:  # one token and key for all: a loop, not a parametrisation
        args = signed(line)
        assert parse(args) is not None, f"{line}: should take the fast path"
        fast = _run(FAST, args, input="user7pin3\n")
        (tmp_path / "out").unlink(missing_ok=True)
        slow = _run(CLICK, args, input="user7pin3\n")
        (tmp_path / "out").unlink(missing_ok=True)
        assert (fast.code, fast.out, fast.err) == (slow.code, slow.out, slow.err), line
        if "--json" in args:
            assert json.loads(fast.out), line  # one JSON document, whatever the outcome
        statuses.add(fast.code)
    assert statuses == {0, exitcodes.SIGNATURE_INVALID, exitcodes.TOKEN_NOT_FOUND, exitcodes.INVALID_INPUT,
                        exitcodes.KEY_NOT_FOUND}


def test_a_wrong_pin_is_reported_alike(signed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    args = signed("sign --token {token} --key k --in {doc} --out {out} --pin-env BAD_PIN --json")
    fast, slow = _run(FAST, args), _run(CLICK, args)
    assert fast.code == slow.code == exitcodes.PIN_INCORRECT
    first, second = json.loads(fast.out), json.loads(slow.out)
    # SoftHSM does not count tries, so both reports are the same but for nothing at all.
    assert first == second and first["function"] == "C_Login" and first["rv"] == 0xA0


def test_a_plain_signature_from_the_fast_path_verifies(signed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    done = _run(FAST, signed("sign --token {token} --key k --in {doc} --out {out} --pin-env PIN"))
    assert done.code == 0, done.err
    assert done.out.startswith("signed ") and (tmp_path / "out").read_bytes()[:1] == b"\x30"  # DER
    check = _run(CLICK, signed("verify --pubkey {pub_pem} --in {doc} --sig {out} --json"))
    assert check.code == 0 and json.loads(check.out)["valid"] is True


def test_the_fast_commands_do_not_import_click(signed) -> None:  # type: ignore[no-untyped-def]
    for line in ("tokens --json", "sign --token {token} --key k --in {doc} --out {out} --pin-env PIN --json",
                 "verify --pubkey {pub_pem} --in {doc} --sig {sig} --json"):
        done = _run(LOADED, signed(line))
        assert done.code == 0, done.err
        loaded = set(done.err.split())
        for heavy in ("click", "sitoken.cli.app", "sitoken.skf", "sitoken.pcsc", "sitoken.certs", "sitoken.signing"):
            assert heavy not in loaded, f"`sitoken {line.split()[0]}` imported {heavy}"
        if line.startswith("tokens"):
            assert not loaded & {"cryptography", "asn1crypto", "tempfile", "datetime"}, line
            # Listing needs the module and its sessions, not the driver's keys, mechanisms, profiles.
            assert not loaded & {"sitoken.pkcs11.driver", "sitoken.pkcs11.keys", "sitoken.pkcs11.profiles"}, line
        if line.startswith("sign"):
            # The key's curve comes from the table of algorithm facts, not from an ASN.1 parser; the
            # DER signature from pyca/cryptography's small encoder, without its key loaders.
            assert "cryptography.hazmat.primitives.asymmetric.utils" in loaded, line
            assert not loaded & {"asn1crypto", "cryptography.hazmat.primitives.serialization",
                                 "cryptography.x509", "tempfile", "datetime"}, line
        if line.startswith("verify"):
            assert "sitoken.token" not in loaded, line  # --pubkey opens no token
        # A P-256 key is not SM2: neither sitoken.sm2 nor cffi's parser is loaded for it.
        assert not loaded & {"sitoken.sm2", "cffi", "pycparser"}, line
        assert "ctypes" not in loaded, line  # prctl goes through cffi's backend, loaded anyway


@pytest.mark.parametrize("line", [
    "sign --key k --in f --out g",  # no PIN source: click asks, or says it is a usage error
    "sign --key k --in f --out g --pin-env A --pin-file b",  # two sources
    "sign --key k --in f --out g --pin-env PIN --cms",  # CMS: click's path
    "sign --key k --in f --pin-env PIN",  # --out missing: click's usage error
    "sign --key k --in f --out g --pin-env PIN --mechanism nonsense",
    "sign --key k --in f --out g --pin-fd x3",
    "verify --pubkey p --sig s",  # --in missing
    "verify --in f --sig s",  # neither --key nor --pubkey
    "verify --pubkey p --in f --sig s --trust t",
    "tokens --json --json",  # repeated
    "tokens --bogus",
    "tokens extra",
    "-v tokens",
    "--debug tokens",
    "tokens --help",
    "--version",
    "tokens --module",  # value missing
    "tokens --token -x",  # click would take -x as the value
    "tokens --json=yes",
    "key list",
    "",
])
def test_lines_the_fast_path_does_not_fully_understand_go_to_click(line: str) -> None:
    assert parse(line.split()) is None


def test_the_click_free_modules_name_no_click() -> None:
    """What the fast path imports (docs/architecture.md), read from the source: no click, even lazily."""
    import ast

    import sitoken.cli

    here = Path(sitoken.cli.__file__).parent
    for name in ("__init__", "base", "actions", "fast", "failure", "exitcodes"):
        tree = ast.parse((here / f"{name}.py").read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {m for m in imported if m.split(".")[0] == "click"}, f"sitoken/cli/{name}.py imports click"
        assert "common" not in imported and not any(m.endswith("_cmds") for m in imported), name


def test_shell_completion_stays_with_click(signed) -> None:  # type: ignore[no-untyped-def]
    done = subprocess.run([sys.executable, "-c", FAST, "tokens", "--json"], capture_output=True, text=True,
                          env={**os.environ, "_SITOKEN_COMPLETE": "bash_complete", "COMP_WORDS": "sitoken tok",
                               "COMP_CWORD": "1"}, timeout=60)
    assert done.returncode == 0 and done.stdout.split() == ["plain,token", "plain,tokens"], done.stdout


def test_the_fast_parser_reads_options_as_click_does() -> None:
    assert parse(["--json", "tokens", "--module", "sim"]) == ("tokens", {"--json": True, "--module": "sim"})
    command, options = parse(["sign", "--key=k", "--in", "-", "--out", "o", "--pin-fd", "3"]) or ("", {})
    assert command == "sign" and options == {"--key": "k", "--in": "-", "--out": "o", "--pin-fd": "3"}
