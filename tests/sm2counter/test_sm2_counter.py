"""The counter workflow with dual SM2 certificates on the software SKF token: provision, batch, cert status,
renew, report-loss, reissue; certificates checked by openssl with the signer ID, the round trip redone
outside the counter (CMS signature, a message openssl encrypts to the encryption certificate)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509
from sm2counter_support import ORG, PERSON, PIN, journal_rows

from cli_support import invoke
from sitoken.certs import to_pem
from sitoken.certs.sm2ca import Sm2LocalCA, recover_escrow
from sitoken.errors import InvalidInput
from sitoken.provisioning.profiles import load_profiles, parse_profiles
from skf_bed import openssl_verifies_certificate

SIGNATURE_USAGE = {"digital_signature", "non_repudiation"}
ENCRYPTION_USAGE = {"key_encipherment", "data_encipherment", "key_agreement"}


def _usage(der: bytes) -> set[str]:
    return set(x509.Certificate.load(der).key_usage_value.native)


def _check_outside_sitoken(tmp_path: Path, token: list[str], key: str, row: dict[str, Any]) -> None:
    """openssl verifies both certificates; the holder signs CMS and decrypts what openssl encrypted to them."""
    ca = Sm2LocalCA.open(tmp_path / "ca")
    issuing, root = tmp_path / "issuing.pem", tmp_path / "root.pem"
    issuing.write_bytes(to_pem([ca.chain[0]]))
    root.write_bytes(to_pem([ca.chain[-1]]))
    for name in ("certificate", "enc_certificate"):
        (tmp_path / f"{name}.pem").write_bytes(to_pem([row[name]]))
        assert openssl_verifies_certificate(issuing, tmp_path / f"{name}.pem")
    assert openssl_verifies_certificate(root, issuing)
    run = invoke  # the holder's own commands, as after the counter
    doc = tmp_path / "doc.txt"
    doc.write_text("养老保险缴费确认 / contribution confirmed\n", encoding="utf-8")
    signed = run(["sign", *token, "--key", key, "--cms", "--in", str(doc), "--out", str(tmp_path / "doc.p7s"),
                  "--pin-env", "PIN"], {"PIN": PIN})
    assert signed.code == 0, signed.err
    trust = tmp_path / "trust.pem"
    trust.write_bytes(to_pem(list(ca.chain)))
    checked = run(["verify", "--cms", "--trust", str(trust), "--in", str(doc), "--sig", str(tmp_path / "doc.p7s")], {})
    assert checked.code == 0, checked.err
    subprocess.run(["openssl", "x509", "-in", str(tmp_path / "enc_certificate.pem"), "-pubkey", "-noout",
                    "-out", str(tmp_path / "enc.pub")], check=True)
    subprocess.run(["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", str(tmp_path / "enc.pub"), "-in", str(doc),
                    "-out", str(tmp_path / "doc.sm2")], check=True)
    done = run(["decrypt", *token, "--key", f"{key}/enc", "--in", str(tmp_path / "doc.sm2"), "--out",
                str(tmp_path / "doc.out"), "--pin-env", "PIN"], {"PIN": PIN})
    assert done.code == 0, done.err
    assert (tmp_path / "doc.out").read_bytes() == doc.read_bytes()


def test_provision_renew_loss_reissue_with_dual_certificates(tmp_path: Path, counter: Any) -> None:
    (tmp_path / "zhang.json").write_text(json.dumps(PERSON, ensure_ascii=False), encoding="utf-8")
    ca = ["--ca", str(tmp_path / "ca")]
    made = counter("provision", "--module", "skf", "--applicant", str(tmp_path / "zhang.json"), *ca,
                   "--so-pin-env", "SO", "--holder-pin-env", "PIN", "--json")
    assert made.code == 0, made.err + made.out
    first = made.json()
    assert first["state"] == "done" and first["certificate_serial"] and first["encryption_certificate_serial"]
    [row] = journal_rows(tmp_path)
    assert row["profile"] == "personal-sm2"  # the SM2 CA's default for a personal applicant
    assert (row["cert_serial"], row["enc_serial"], row["escrow_ref"]) == (
        first["certificate_serial"], first["encryption_certificate_serial"], first["escrow_ref"])
    assert _usage(row["certificate"]) == SIGNATURE_USAGE and _usage(row["enc_certificate"]) == ENCRYPTION_USAGE
    # The journal records where the KMC escrowed the key, never the key (nor the envelope around it).
    escrowed = recover_escrow(tmp_path / "ca", row["escrow_ref"])
    assert x509.Certificate.load(row["enc_certificate"]).public_key.dump() == escrowed.public_key().spki
    assert escrowed.scalar() not in (tmp_path / "state" / "journal.sqlite").read_bytes()
    token = ["--module", "skf", "--token", first["token_serial"]]
    _check_outside_sitoken(tmp_path, token, first["key_label"], row)

    # The USB-Key is also found by its application's label, as a PKCS#11 token by its label.
    status = counter("cert", "status", "--module", "skf", "--token", first["token_label"], "--json")
    assert status.code == 0, status.err
    assert {(r["key"], r["usage"]) for r in status.json()} == {
        (first["key_label"], "signature"), (f"{first['key_label']}/enc", "encryption")}

    renewed = counter("renew", "--module", "skf", "--applicant-id", PERSON["id_number"], *ca,
                      "--holder-pin-env", "PIN", "--remove-old", "--json")
    assert renewed.code == 0, renewed.err + renewed.out
    new = renewed.json()
    assert new["token_serial"] == first["token_serial"] and new["key_label"] != first["key_label"]
    assert {new["certificate_serial"], new["encryption_certificate_serial"]}.isdisjoint(
        {first["certificate_serial"], first["encryption_certificate_serial"]})
    listed = {r["key"]: r for r in counter("cert", "status", *token, "--json").json()}
    # Both new expiries shown; the old container (both keys, both certificates) went with --remove-old.
    assert set(listed) == {f"{new['key_label']}/enc", new["key_label"]}
    assert listed[new["key_label"]]["not_after"] == new["not_after"]
    assert listed[f"{new['key_label']}/enc"]["not_after"] == new["encryption_not_after"]

    lost = counter("report-loss", "--module", "skf", "--applicant-id", PERSON["id_number"], *ca,
                   "--so-pin-env", "SO", "--revocations", str(tmp_path / "revoke"), "--force", "--json")
    assert lost.code == 0, lost.err + lost.out
    requested = {(r["certificate_serial"], r["usage"]) for r in lost.json()["revocations"]}
    assert {(new["certificate_serial"], "signature"), (new["encryption_certificate_serial"], "encryption")} <= requested
    enc_request = json.loads((tmp_path / "revoke" / f"revoke-{new['encryption_certificate_serial']}.json").read_text())
    assert enc_request["usage"] == "encryption" and enc_request["escrow_ref"] == new["escrow_ref"]
    assert lost.json()["destroyed"]

    again = counter("reissue", "--module", "skf", "--applicant-id", PERSON["id_number"], *ca,
                    "--so-pin-env", "SO", "--holder-pin-env", "PIN", "--json")
    assert again.code == 0, again.err + again.out
    assert again.json()["token_serial"] != first["token_serial"] and again.json()["encryption_certificate_serial"]


def test_batch_onto_skf_keys_with_the_sm2_ca_default_profiles(tmp_path: Path, counter: Any) -> None:
    (tmp_path / "rows.json").write_text(json.dumps([PERSON, ORG], ensure_ascii=False), encoding="utf-8")
    done = counter("batch", str(tmp_path / "rows.json"), "--module", "skf", "--ca", str(tmp_path / "ca"),
                   "--so-pin-env", "SO", "--holder-pin-env", "PIN", "--json")
    assert done.code == 0, done.err + done.out
    assert [r["outcome"] for r in done.json()["rows"]] == ["done", "done"]
    rows = journal_rows(tmp_path)
    assert [r["profile"] for r in rows] == ["personal-sm2", "organisation-sm2"]  # the SM2 CA's defaults
    assert all(r["enc_certificate"] and r["escrow_ref"] for r in rows)
    assert len({r["token_serial"] for r in rows}) == 2  # one USB-Key per holder
    # Without the SO PIN a loss report deletes the holder's container with the holder's PIN.
    lost = counter("report-loss", "--module", "skf", "--applicant-id", ORG["credit_code"], "--holder-pin-env", "PIN",
                   "--revocations", str(tmp_path / "revoke"), "--force", "--json")
    assert lost.code == 0 and lost.json()["destroyed"], lost.err + lost.out
    assert {r["usage"] for r in lost.json()["revocations"]} == {"signature", "encryption"}
    keys = counter("key", "list", "--module", "skf", "--token", rows[1]["token_serial"], "--pin-env", "PIN", "--json")
    assert keys.code == 0 and keys.json() == [], keys.out
    both = counter("batch", str(tmp_path / "rows.json"), "--module", "skf", "--profile", "personal-sm2",
                   "--profile", "personal", "--so-pin-env", "SO", "--holder-pin-env", "PIN", "--json")
    assert both.code == 2 and "both personal profiles" in both.err


def test_dual_profiles_are_sm2_only() -> None:
    profiles = load_profiles()
    for name in ("personal-sm2", "organisation-sm2"):
        profile = profiles.profiles[name]
        assert profile.dual and set(profile.key_usage) == SIGNATURE_USAGE
        assert set(profile.encryption_key_usage) == ENCRYPTION_USAGE
    assert not profiles.profiles["personal"].dual
    body = profiles.to_dict()
    body["profiles"]["personal"]["encryption_key_usage"] = ["key_encipherment"]  # on an EC/RSA profile
    with pytest.raises(InvalidInput, match="need key_type sm2"):
        parse_profiles(body, "test")
