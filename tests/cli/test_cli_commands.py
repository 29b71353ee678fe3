"""The CLI contract: commands, --json documents, exit statuses, PIN sources (in-process)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitoken.cli import exitcodes

pytestmark = pytest.mark.softhsm


def test_tokens_json_has_the_stable_fields(cli, sim_token) -> None:  # type: ignore[no-untyped-def]
    done = cli("tokens", "--json")
    assert done.code == 0
    tokens = {t["label"]: t for t in done.json()}
    entry = tokens[sim_token]
    for field in ("label", "serial", "manufacturer", "model", "pin", "so_pin", "uri", "flags"):
        assert field in entry
    assert entry["pin"]["state"] == "ok" and entry["pin"]["remaining"] is None


def test_options_work_before_and_after_the_command(cli, sim_token) -> None:  # type: ignore[no-untyped-def]
    assert cli("--token", sim_token, "pin", "status", "--json").json()["user"]["state"] == "ok"
    assert cli("pin", "status", "--token", sim_token, "--json").json()["so"]["state"] == "ok"


def test_key_lifecycle_and_signing(cli, sim_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = ("--token", sim_token)
    gen = cli("key", "generate", *t, "--type", "ec-p384", "--label", "k", "--id", "a1b2", "--pin-env", "PIN", "--json")
    assert gen.code == 0 and gen.json()["id"] == "a1b2" and gen.json()["type"] == "ec-p384"
    doc, sig = tmp_path / "doc", tmp_path / "sig"
    doc.write_bytes(b"record")
    assert cli("sign", *t, "--key", "k", "--in", str(doc), "--out", str(sig), "--pin-env", "PIN").code == 0
    ok = cli("verify", *t, "--key", "k", "--in", str(doc), "--sig", str(sig), "--json")
    assert ok.code == 0 and ok.json() == {"valid": True, "mechanism": "ecdsa-sha384", "verified_by": "host"}
    doc.write_bytes(b"recorx")
    bad = cli("verify", *t, "--key", "k", "--in", str(doc), "--sig", str(sig), "--json")
    assert bad.code == exitcodes.SIGNATURE_INVALID and bad.json()["valid"] is False
    listed = cli("key", "list", *t, "--pin-env", "PIN", "--json").json()
    assert [k["label"] for k in listed] == ["k"]
    deleted = cli("key", "delete", *t, "--key", "id:a1b2", "--pin-env", "PIN", "--force", "--json")
    assert deleted.code == 0 and cli("key", "list", *t, "--pin-env", "PIN", "--json").json() == []


def test_raw_ecdsa_and_pubkey_file(cli, sim_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = ("--token", sim_token)
    cli("key", "generate", *t, "--type", "ec-p256", "--label", "k", "--pin-env", "PIN")
    doc, sig, pem = tmp_path / "doc", tmp_path / "sig", tmp_path / "k.pem"
    doc.write_bytes(b"record")
    cli("sign", *t, "--key", "k", "--in", str(doc), "--out", str(sig), "--raw-ecdsa", "--pin-env", "PIN")
    assert len(sig.read_bytes()) == 64
    assert cli("key", "export", *t, "--key", "k", "--out", str(pem)).code == 0
    assert pem.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    done = cli("verify", "--pubkey", str(pem), "--in", str(doc), "--sig", str(sig), "--raw-ecdsa")
    assert done.code == 0


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (("--token", "no-such-token", "pin", "status"), exitcodes.TOKEN_NOT_FOUND),
        (("key", "export", "--key", "missing"), exitcodes.KEY_NOT_FOUND),
        (("key", "generate", "--type", "rsa2048", "--label", "x", "--pin-env", "BAD_PIN"),
         exitcodes.PIN_INCORRECT),
        (("pin", "change", "--pin-env", "PIN", "--new-pin-env", "WEAK"), exitcodes.INVALID_INPUT),
        (("pin", "change", "--pin-env", "UNSET_VARIABLE", "--new-pin-env", "NEW_PIN"), exitcodes.INVALID_INPUT),
        (("key", "generate", "--type", "dsa", "--label", "x"), exitcodes.USAGE),
        (("sign", "--key", "k", "--in", "/nonexistent", "--out", "/tmp/x", "--pin-env", "PIN"),
         exitcodes.INVALID_INPUT),
    ],
)
def test_documented_exit_statuses(cli, sim_token, args, status) -> None:  # type: ignore[no-untyped-def]
    done = cli("--token", sim_token, *args, env={"WEAK": "123456"})
    assert done.code == status, done.out + done.err


def test_errors_in_json_mode_are_one_json_document(cli, sim_token) -> None:  # type: ignore[no-untyped-def]
    done = cli("--token", sim_token, "key", "generate", "--type", "rsa2048", "--label", "x",
               "--pin-env", "BAD_PIN", "--json")
    doc = done.json()
    assert doc["error"] == "pin-incorrect" and doc["rv"] == 0xA0 and doc["function"] == "C_Login"
    assert doc["exit_code"] == exitcodes.PIN_INCORRECT


def test_pin_lifecycle_through_the_cli(cli, sim_token) -> None:  # type: ignore[no-untyped-def]
    t = ("--token", sim_token)
    assert cli("pin", "change", *t, "--pin-env", "PIN", "--new-pin-env", "NEW_PIN").code == 0
    assert cli("key", "list", *t, "--pin-env", "PIN").code == exitcodes.PIN_INCORRECT
    assert cli("pin", "status", *t, "--json").json()["user"]["count_low"] is True
    assert cli("pin", "reset", *t, "--so-pin-env", "SO_PIN", "--new-pin-env", "PIN").code == 0
    assert cli("key", "list", *t, "--pin-env", "PIN").code == 0
    env = {"NEW_SO": "so-new-1357"}
    assert cli("pin", "change-so", *t, "--so-pin-env", "SO_PIN", "--new-so-pin-env", "NEW_SO", env=env).code == 0
    assert cli("pin", "reset", *t, "--so-pin-env", "NEW_SO", "--new-pin-env", "NEW_PIN", env=env).code == 0


def test_pins_from_files_and_stdin(cli, sim_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pin_file = tmp_path / "pin"
    pin_file.write_text("user7pin3\n")
    pin_file.chmod(0o600)
    done = cli("--token", sim_token, "pin", "change", "--pin-file", str(pin_file), "--new-pin-file", "-",
               input="n3wpin88x\n")
    assert done.code == 0, done.err
    both = cli("--token", sim_token, "pin", "change", "--pin-file", "-", "--new-pin-file", "-",
               input="n3wpin88x\nth1rdpin9\n")
    assert both.code == 0, both.err


def test_no_pin_source_without_a_terminal_is_a_usage_error(cli, sim_token) -> None:  # type: ignore[no-untyped-def]
    done = cli("--token", sim_token, "pin", "change")
    assert done.code == exitcodes.USAGE
    assert "--pin-env" in done.err


def test_destructive_commands_confirm(cli, sim_token) -> None:  # type: ignore[no-untyped-def]
    cli("--token", sim_token, "key", "generate", "--type", "ec-p256", "--label", "keep", "--pin-env", "PIN")
    refused = cli("--token", sim_token, "key", "delete", "--key", "keep", "--pin-env", "PIN")
    assert refused.code == exitcodes.ABORTED and "--force" in refused.err
    assert cli("--token", sim_token, "key", "export", "--key", "keep").code == 0
    assert cli("sim", "delete", sim_token).code == exitcodes.ABORTED


def test_token_init_on_a_free_slot_then_pin_init(cli) -> None:  # type: ignore[no-untyped-def]
    done = cli("token", "init", "--label", "fresh-init", "--so-pin-env", "SO_PIN", "--json")
    assert done.code == 0 and done.json()["pin"]["initialized"] is False
    assert cli("pin", "init", "--token", "fresh-init", "--so-pin-env", "SO_PIN", "--new-pin-env", "PIN").code == 0
    assert cli("pin", "status", "--token", "fresh-init", "--json").json()["user"]["initialized"] is True


def test_doctor_reports_module_and_capabilities(cli, sim_token) -> None:  # type: ignore[no-untyped-def]
    report = cli("--token", sim_token, "doctor", "--json").json()
    assert report["module"]["os_locking"] is True
    assert "ed25519" in report["capabilities"]["key_types"]
    assert "active" in report["native"]


def test_help_lists_exit_statuses(cli) -> None:  # type: ignore[no-untyped-def]
    text = cli("--help").out
    assert "Exit statuses" in text and "4 the token refused the PIN" in text
