"""The CLI as a new user runs it against tokens served by `p11-kit server`; openssl checks the results.

The store was made outside sitoken (softhsm2-util, pkcs11-tool) and lives in the server's own
mount namespace; sitoken sees only p11-kit-client.so and the socket. The proxy module is tried
on the local store the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from p11kit_support import run_tool
from testbed.p11kit_bed import CLIENT_MODULE, PROXY_MODULE, SO_PIN, RemoteBed, SshRemote, registered_only

from cli_support import Outcome
from sitoken.cli import exitcodes
from sitoken.pkcs11 import ModuleChoice, resolve_module

pytestmark = pytest.mark.softhsm
Cli = Callable[..., Outcome]
PERSON = {"kind": "personal", "name": "张三", "id_number": "110105199003071239", "mobile": "13800138000"}


def _ok(done: Outcome) -> Outcome:
    assert done.code == 0, done.err or done.out
    return done


def _openssl_verifies(key_pem: Path, data: Path, signature: Path) -> bool:
    return run_tool("openssl", "dgst", "-sha256", "-verify", str(key_pem), "-signature", str(signature),
                    str(data)).returncode == 0


def test_short_names_of_p11_kits_modules_are_its_debian_paths() -> None:
    assert resolve_module("p11-kit-client") == ModuleChoice(CLIENT_MODULE, "p11-kit-client", "option")
    assert resolve_module("p11-kit-proxy") == ModuleChoice(PROXY_MODULE, "p11-kit-proxy", "option")


def test_tokens_keys_sign_verify_csr_cert_and_cms(remote_cli: Cli, tmp_path: Path) -> None:
    # The short name of the client module, as docs/remote-tokens.md shows it.
    listed = {t["label"] for t in _ok(remote_cli("--module", "p11-kit-client", "tokens", "--json")).json()}
    assert {"remote1", "remote2"} <= listed
    assert _ok(remote_cli("pin", "status", "--token", "remote1", "--json")).json()["user"]["state"] == "ok"
    on = ["--token", "remote1", "--pin-env", "PIN"]
    _ok(remote_cli("key", "generate", *on, "--type", "ec-p256", "--label", "made-here"))
    keys = {k["label"]: k for k in _ok(remote_cli("key", "list", *on, "--json")).json()}
    assert {"rsa", "p256", "made-here"} <= set(keys) and keys["rsa"]["private"]

    doc, sig, key = tmp_path / "doc.txt", tmp_path / "doc.sig", tmp_path / "rsa.pem"
    doc.write_text("社保 record 2026-12\n")
    _ok(remote_cli("key", "export", "--token", "remote1", "--key", "rsa", "--out", str(key)))
    _ok(remote_cli("sign", *on, "--key", "rsa", "--in", str(doc), "--out", str(sig)))
    assert _openssl_verifies(key, doc, sig)
    _ok(remote_cli("verify", "--token", "remote1", "--key", "rsa", "--in", str(doc), "--sig", str(sig)))

    req, ca, issued = tmp_path / "req.pem", tmp_path / "ca", tmp_path / "issued.pem"
    _ok(remote_cli("csr", *on, "--key", "rsa", "--subject", "CN=张三,O=Remote Counter,C=CN", "--out", str(req)))
    assert run_tool("openssl", "req", "-verify", "-noout", "-in", str(req)).returncode == 0
    _ok(remote_cli("ca", "init", str(ca)))
    _ok(remote_cli("ca", "issue", str(ca), "--csr", str(req), "--days", "30", "--out", str(issued)))
    _ok(remote_cli("cert", "import", *on, str(issued)))

    p7s = tmp_path / "doc.p7s"
    _ok(remote_cli("sign", *on, "--key", "rsa", "--cms", "--in", str(doc), "--out", str(p7s)))
    verified = run_tool("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(p7s), "-content",
                        str(doc), "-CAfile", str(ca / "root.pem"), "-purpose", "any", "-out", "/dev/null")
    assert verified.returncode == 0, verified.stderr
    report = _ok(remote_cli("verify", "--cms", "--in", str(doc), "--sig", str(p7s), "--trust", str(ca / "root.pem"),
                            "--json")).json()
    assert report["valid"] and "张三" in report["signer"]


def test_pin_change_and_a_token_initialised_through_the_rpc(remote_cli: Cli) -> None:
    env = {"SO_PIN": SO_PIN, "NEW": "n3wpin88x"}
    _ok(remote_cli("token", "init", "--label", "remote-new", "--so-pin-env", "SO_PIN", "--force", env=env))
    _ok(remote_cli("pin", "init", "--token", "remote-new", "--so-pin-env", "SO_PIN", "--new-pin-env", "PIN",
                   env=env))
    _ok(remote_cli("pin", "change", "--token", "remote-new", "--pin-env", "PIN", "--new-pin-env", "NEW", env=env))
    wrong = remote_cli("key", "list", "--token", "remote-new", "--pin-env", "PIN", "--json")
    assert wrong.code == exitcodes.PIN_INCORRECT
    _ok(remote_cli("key", "list", "--token", "remote-new", "--pin-env", "NEW", env=env))


def test_batch_signing_over_both_remote_tokens(remote_cli: Cli, tmp_path: Path) -> None:
    files = []
    for i in range(6):
        files.append(tmp_path / f"f{i}.txt")
        files[-1].write_text(f"record {i}\n")
    done = _ok(remote_cli("sign-batch", "--token", "remote1", "--token", "remote2", "--key", "rsa", "--out-dir",
                          str(tmp_path / "sigs"), "--pin-env", "PIN", "--json", *map(str, files)))
    assert done.json()["signed"] == 6
    keys = []
    for token in ("remote1", "remote2"):
        keys.append(tmp_path / f"{token}.pem")
        _ok(remote_cli("key", "export", "--token", token, "--key", "rsa", "--out", str(keys[-1])))
    for path in files:
        sig = tmp_path / "sigs" / (path.name + ".sig")
        assert sum(_openssl_verifies(k, path, sig) for k in keys) == 1


def test_eddsa_is_refused_before_any_call_with_the_reason(remote_cli: Cli, tmp_path: Path) -> None:
    doc = tmp_path / "doc"
    doc.write_text("x")
    on = ["--token", "remote1", "--pin-env", "PIN", "--json"]
    refused = remote_cli("sign", *on, "--key", "ed", "--in", str(doc), "--out", str(tmp_path / "sig"))
    assert refused.code == exitcodes.NOT_SUPPORTED, refused.out + refused.err
    assert "p11-kit" in json.loads(refused.out)["message"]
    made = remote_cli("key", "generate", *on, "--type", "ed25519", "--label", "ed-new")
    assert made.code == exitcodes.NOT_SUPPORTED and "p11-kit" in json.loads(made.out)["message"]


def test_provision_an_applicant_through_the_client(remote_cli: Cli, tmp_path: Path) -> None:
    applicant = tmp_path / "zhang.json"
    applicant.write_text(json.dumps(PERSON, ensure_ascii=False), encoding="utf-8")
    env = {"SO_PIN": SO_PIN, "HOLDER_PIN": "hold3r9pin", "SITOKEN_STATE_DIR": str(tmp_path / "state")}
    done = _ok(remote_cli("provision", "--applicant", str(applicant), "--so-pin-env", "SO_PIN",
                          "--holder-pin-env", "HOLDER_PIN", "--json", env=env)).json()
    assert done["state"] == "done"
    doc, p7s = tmp_path / "doc.txt", tmp_path / "doc.p7s"
    doc.write_text("contribution confirmed\n")
    _ok(remote_cli("sign", "--cms", "--token", done["token_label"], "--key", done["key_label"], "--in", str(doc),
                   "--out", str(p7s), "--pin-env", "HOLDER_PIN", env=env))
    root = tmp_path / "state" / "local-ca" / "root.pem"
    verified = run_tool("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(p7s), "-content",
                        str(doc), "-CAfile", str(root), "-purpose", "any", "-out", "/dev/null")
    assert verified.returncode == 0, verified.stderr


def test_the_proxy_module_on_the_local_store(remote_bed: RemoteBed, proxy_prefix: list[str], tmp_path: Path,
                                             remote_cli: Cli) -> None:
    env = {"SITOKEN_MODULE": "p11-kit-proxy", "SO_PIN": SO_PIN}

    def cli(*args: str) -> Outcome:
        return _ok(remote_cli(*args, env=env, prefix=proxy_prefix))

    cli("token", "init", "--label", "via-proxy", "--so-pin-env", "SO_PIN", "--force")
    cli("pin", "init", "--token", "via-proxy", "--so-pin-env", "SO_PIN", "--new-pin-env", "PIN")
    on = ["--token", "via-proxy", "--pin-env", "PIN"]
    cli("key", "generate", *on, "--type", "ec-p256", "--label", "k")
    doc, sig, key = tmp_path / "doc", tmp_path / "sig", tmp_path / "k.pem"
    doc.write_text("proxied\n")
    cli("sign", *on, "--key", "k", "--in", str(doc), "--out", str(sig))
    cli("key", "export", "--token", "via-proxy", "--key", "k", "--out", str(key))
    assert _openssl_verifies(key, doc, sig)


def test_p11_kit_remote_over_ssh_through_the_proxy(ssh_remote: SshRemote, tmp_path: Path, remote_cli: Cli) -> None:
    # The registration docs/remote-tokens.md shows, with the far machine's sshd on a private port;
    # this process's p11-kit sees it alone, so every token listed came over the SSH pipe.
    prefix = registered_only(tmp_path / "modules", {"counter": ssh_remote.module_config()})

    def cli(*args: str) -> Outcome:
        return _ok(remote_cli("--module", "p11-kit-proxy", *args, prefix=prefix))

    assert [t["label"] for t in cli("tokens", "--json").json()] == ["far1"]
    doc, sig, key = tmp_path / "doc", tmp_path / "sig", tmp_path / "p256.pem"
    doc.write_text("社保 record over ssh\n")
    cli("sign", "--token", "far1", "--pin-env", "PIN", "--key", "p256", "--in", str(doc), "--out", str(sig))
    cli("key", "export", "--token", "far1", "--key", "p256", "--out", str(key))
    assert _openssl_verifies(key, doc, sig)


def test_bench_measures_existing_remote_tokens_and_their_pool(remote_cli: Cli) -> None:
    report = _ok(remote_cli("bench", "--module", CLIENT_MODULE, "--token", "remote1", "--token", "remote2",
                            "--key", "p256", "--pin-env", "PIN", "--seconds", "0.05", "--threads", "1",
                            "--json")).json()
    assert report["module"] == CLIENT_MODULE
    (row,) = report["rows"]
    assert row["key_type"] == "ec-p256" and row["ratios"]["native 1T/reference"] is not None
    assert {c["path"] for c in row["cells"]} == {"python", "native", "reference"}
    (pool,) = report["pool"]
    assert (pool["one"]["threads"], pool["pool"]["threads"]) == (1, 2) and pool["pool"]["signatures"] > 0
