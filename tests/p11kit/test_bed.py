"""The p11-kit bed itself, checked with OpenSC's pkcs11-tool before sitoken is tried on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from p11kit_support import client_tool, run_tool
from testbed.lifeline import process_state
from testbed.p11kit_bed import PROXY_MODULE, USER_PIN, RemoteBed


def test_the_store_is_invisible_outside_the_servers_namespace(remote_bed: RemoteBed) -> None:
    assert remote_bed.socket.is_socket()
    assert list(remote_bed.store.iterdir()) == []  # the tmpfs is mounted only over there


def test_pkcs11_tool_signs_through_the_client_and_openssl_verifies(remote_bed: RemoteBed, tmp_path: Path) -> None:
    listing = client_tool(remote_bed, "-L")
    assert listing.returncode == 0 and "remote1" in listing.stdout and "remote2" in listing.stdout
    message = tmp_path / "m"
    message.write_bytes(b"remote signing")
    signed = client_tool(remote_bed, "--token-label", "remote1", "--login", "--pin", USER_PIN, "--sign",
                         "--mechanism", "SHA256-RSA-PKCS", "--id", "01", "-i", str(message),
                         "-o", str(tmp_path / "sig"))
    assert signed.returncode == 0, signed.stderr
    exported = client_tool(remote_bed, "--token-label", "remote1", "--read-object", "--type", "pubkey",
                           "--id", "01", "-o", str(tmp_path / "pub.der"))
    assert exported.returncode == 0, exported.stderr
    verified = run_tool("openssl", "dgst", "-sha256", "-verify", str(tmp_path / "pub.der"), "-keyform", "DER",
                        "-signature", str(tmp_path / "sig"), str(message))
    assert verified.returncode == 0 and "Verified OK" in verified.stdout, verified.stderr


def test_the_rpc_drops_eddsa_and_hashed_pss(remote_bed: RemoteBed) -> None:
    # What docs/remote-tokens.md says does not cross: SoftHSM offers these, the client lists none.
    mechanisms = client_tool(remote_bed, "--token-label", "remote1", "-M").stdout
    assert "SHA256-RSA-PKCS," in mechanisms and "RSA-PKCS-PSS," in mechanisms
    assert "EDDSA" not in mechanisms and "EC-EDWARDS-KEY-PAIR-GEN" not in mechanisms
    assert "SHA256-RSA-PKCS-PSS" not in mechanisms


def test_the_proxy_serves_the_local_store_alone(proxy_prefix: list[str], fresh_token) -> None:  # type: ignore[no-untyped-def]
    # p11-kit's own listing names the registrations it loaded: ours alone, not the system's softhsm2.
    modules = run_tool(*proxy_prefix, "p11-kit", "list-modules")
    assert modules.returncode == 0, modules.stderr
    assert [line.split(":")[0] for line in modules.stdout.splitlines() if not line[:1].isspace()] == ["sitoken-softhsm"]
    listing = run_tool(*proxy_prefix, "pkcs11-tool", "--module", PROXY_MODULE, "-L")
    assert listing.returncode == 0, listing.stderr
    assert fresh_token.label in listing.stdout


def test_the_command_line_stop_waits_until_the_server_has_ended(tmp_path: Path) -> None:
    # `start` returns with the server running on its own (its parent is then init, which reaps
    # it); `stop` must not return before it has ended, nor leave its socket or pid file.
    root = Path(__file__).resolve().parents[2]
    bed = [sys.executable, "-m", "testbed.p11kit_bed"]
    started = subprocess.run([*bed, "start", str(tmp_path), "cli1"], cwd=root, capture_output=True, text=True,
                             timeout=60, check=False)
    assert started.returncode == 0, started.stderr
    pid = int((tmp_path / "server.pid").read_text())
    assert process_state(pid) not in ("", "Z")
    stopped = subprocess.run([*bed, "stop", str(tmp_path)], cwd=root, capture_output=True, text=True, timeout=60,
                             check=False)
    assert stopped.returncode == 0, stopped.stderr
    assert process_state(pid) in ("", "Z"), "stop returned while the server still ran"
    assert not (tmp_path / "server.sock").exists() and not (tmp_path / "server.pid").exists()
