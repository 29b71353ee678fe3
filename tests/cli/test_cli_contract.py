"""The CLI contract for scripts and integrators: JSON on every exit, the exit table, tracing, help text."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sitoken.cli import exitcodes

pytestmark = pytest.mark.softhsm

ROOT = Path(__file__).resolve().parents[2]


def test_exit_table_in_the_docs_is_the_one_in_the_code() -> None:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- exit-statuses:.*?-->\n(.*?)<!-- /exit-statuses -->", text, re.S)
    assert found, "docs/cli.md lost its generated exit-status block"
    assert found.group(1) == exitcodes.markdown_table(), (
        "docs/cli.md is stale: paste sitoken.cli.exitcodes.markdown_table() between the markers")
    # Every status the code can return is in the table, with the codes of the errors that map to it.
    assert "| 130 |" in found.group(1) and "`pin-policy`" in found.group(1)


@pytest.mark.parametrize("args", [
    ("key", "list", "--json", "--pin-file", "/nonexistent/but/never/read", "--bogus"),  # bad option
    ("--json", "tokens", "--bogus"),  # --json before the command, bad option after it
    ("sim", "create", "no-pin-source", "--json"),  # no PIN source, no terminal
    ("--json", "sign", "--key", "k"),  # missing options
])
def test_usage_errors_are_one_json_document(sitoken_proc, args: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    done = sitoken_proc(*args, input="")
    assert done.code == exitcodes.USAGE, done.err
    doc = done.json()
    assert doc["error"] == "usage" and doc["exit_code"] == exitcodes.USAGE and doc["message"]
    assert done.err.startswith("error: ")


def test_token_errors_as_json_keep_their_details(cli, sim_token: str) -> None:  # type: ignore[no-untyped-def]
    done = cli("--token", sim_token, "key", "list", "--pin-env", "BAD_PIN", "--json")
    assert done.code == exitcodes.PIN_INCORRECT
    doc = done.json()
    assert doc["error"] == "pin-incorrect" and doc["exit_code"] == exitcodes.PIN_INCORRECT
    assert doc["function"] == "C_Login" and doc["rv"] == 0xA0 and "remaining" in doc


def test_verify_json_on_a_bad_signature_has_the_error_fields(cli, sim_token: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = ("--token", sim_token)
    assert cli(*t, "key", "generate", "--type", "ec-p256", "--label", "k", "--pin-env", "PIN").code == 0
    doc, sig = tmp_path / "doc", tmp_path / "sig"
    doc.write_bytes(b"signed text")
    assert cli(*t, "sign", "--key", "k", "--in", str(doc), "--out", str(sig), "--pin-env", "PIN").code == 0
    doc.write_bytes(b"other text")
    done = cli(*t, "verify", "--key", "k", "--in", str(doc), "--sig", str(sig), "--json")
    assert done.code == exitcodes.SIGNATURE_INVALID
    report = done.json()
    assert report["valid"] is False and report["error"] == "signature-invalid"
    assert report["exit_code"] == exitcodes.SIGNATURE_INVALID and report["message"]


def test_debug_trace_shows_calls_and_never_the_pin(sitoken_proc, sim_token: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = ("--token", sim_token)
    log = tmp_path / "trace.log"
    assert sitoken_proc(*t, "key", "generate", "--type", "ec-p256", "--label", "k", "--pin-env", "PIN").code == 0
    (tmp_path / "doc").write_bytes(b"data")
    done = sitoken_proc("-vv", "--log-file", str(log), *t, "sign", "--key", "k", "--in", str(tmp_path / "doc"),
                        "--out", str(tmp_path / "sig"), "--pin-env", "PIN")
    assert done.code == 0, done.err
    traced = log.read_text(encoding="utf-8")
    assert "C_Login(" in traced and "pin=<redacted>" in traced and "C_Sign(" in traced
    # The PIN in any form a log could carry it: text, hex, repr of bytes.
    pin = "user7pin3"
    for form in (pin, pin.encode().hex(), repr(pin.encode())):
        assert form not in traced and form not in done.err
    # SITOKEN_LOG=debug does the same without options, on stderr; a wrong PIN is traced as a failure.
    done = sitoken_proc(*t, "key", "list", "--pin-env", "BAD_PIN", env={"SITOKEN_LOG": "debug"})
    assert "C_Login(" in done.err and "CKR_PIN_INCORRECT" in done.err and "wrong9pin" not in done.err


def test_pin_help_reads_well(cli) -> None:  # type: ignore[no-untyped-def]
    text = " ".join(cli("token", "init", "--help").out.split())
    assert "Read the SO PIN from the environment variable named VAR." in text
    assert "so pin" not in text and "variable var" not in text
    assert "So pin" not in cli("pin", "change", "--help").out


def test_import_sitoken_loads_neither_the_cli_nor_native_or_crypto_code() -> None:
    # What the import adds, not what the interpreter had: under the suite's coverage the child
    # starts with coverage (and its hashlib) loaded before any line of sitoken runs.
    probe = ("import sys; before = set(sys.modules); "
             "import sitoken, sitoken.errors, sitoken.pin, sitoken.token, sitoken.trace; "
             "print(' '.join(sorted(set(sys.modules) - before)))")
    loaded = set(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                                timeout=60).stdout.split())
    for heavy in ("click", "sitoken.cli", "cffi", "_cffi_backend", "cryptography", "asn1crypto", "pkcs11", "_hashlib"):
        assert heavy not in loaded, f"import sitoken pulled in {heavy}"


def test_each_command_imports_only_what_it_uses() -> None:
    """`sitoken tokens` must not pay for CMS, provisioning, certificates or the benchmark."""
    probe = ("import sys\nfrom sitoken.cli import main\nmain(['tokens', '--json'])\n"
             "print(' '.join(sorted(sys.modules)), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    loaded = set(done.stderr.split())
    assert "sitoken.cli.fast" in loaded  # the click-free path (tests/cli/test_cli_fast.py)
    for other in ("click", "sitoken.cli.token_cmds",
                  "sitoken.cli.provision_cmds", "sitoken.provisioning", "sitoken.signing", "sitoken.certs",
                  "sitoken.bench", "sitoken.cli.cert_cmds", "cryptography"):
        assert other not in loaded, f"`sitoken tokens` imported {other}"


def test_every_listed_command_loads(cli) -> None:  # type: ignore[no-untyped-def]
    from sitoken.cli import LAZY_COMMANDS

    listing = cli("--help").out
    for name in LAZY_COMMANDS:
        assert re.search(rf"^\s+{re.escape(name)}\s", listing, re.M), f"{name} missing from sitoken --help"
        assert cli(name, "--help").code == 0


def test_json_failure_is_a_single_document(cli, sim_token: str) -> None:  # type: ignore[no-untyped-def]
    done = cli("--token", sim_token, "key", "delete", "--key", "nothing-here", "--force", "--pin-env", "PIN", "--json")
    assert done.code == exitcodes.KEY_NOT_FOUND
    assert json.loads(done.out)["error"] == "key-not-found"


def test_shell_completion_offers_lazily_loaded_commands() -> None:
    """`_SITOKEN_COMPLETE` (docs/cli.md): completion sees every command, loaded or not."""
    import os

    script = os.path.join(os.path.dirname(sys.executable), "sitoken")
    env = {**os.environ, "_SITOKEN_COMPLETE": "bash_complete", "COMP_WORDS": "sitoken key ge", "COMP_CWORD": "2"}
    done = subprocess.run([script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "plain,generate" in done.stdout.split()
    env.update(COMP_WORDS="sitoken re", COMP_CWORD="1")
    offered = subprocess.run([script], env=env, capture_output=True, text=True, timeout=60).stdout.split()
    assert {"plain,readers", "plain,renew", "plain,reissue", "plain,report-loss"} <= set(offered)
