"""Child process of test_store_faults.py: a SoftHSM store made read-only or full, then used.

Run as ``store_fault_child.py DIR ro|full namespace|chmod``. With ``namespace`` the process
runs inside ``unshare --mount`` (a private mount namespace, so nothing it mounts is seen
outside it) and mounts a small tmpfs on DIR: ``remount,ro`` makes it read-only, a filler file
makes it full. With ``chmod`` (for a non-root user) the token files lose their write bits.
It prints one JSON document: what each operation did under the fault and after recovery.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

SO_PIN, PIN = "so-pin-2468", "user7pin3"
LABEL = "fault-store"


def outcome(call: Callable[[], object]) -> dict[str, object]:
    """What a call did: its result, or the class, code, message and CK_RV of what it raised."""
    from sitoken.errors import SitokenError

    try:
        return {"ok": True, "result": call()}
    except SitokenError as exc:
        return {"ok": False, "sitoken": True, "error": type(exc).__name__, **exc.to_dict()}
    except Exception as exc:  # reported, so that the test can say what leaked out
        return {"ok": False, "sitoken": False, "error": type(exc).__name__, "message": str(exc)}


def cli(*args: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-m", "sitoken", *args], capture_output=True, text=True,
                          env={**os.environ, "PIN": PIN}, timeout=60, check=False)
    return {"code": done.returncode, "stderr": done.stderr.strip()}


def set_writable(root: Path, writable: bool, method: str) -> None:
    if method == "namespace":
        subprocess.run(["mount", "-o", "remount," + ("rw" if writable else "ro"), str(root)], check=True)
        return
    for path in [root / "sim" / "tokens", *(root / "sim" / "tokens").rglob("*")]:
        mode = path.stat().st_mode
        os.chmod(path, mode | 0o200 if writable else mode & ~0o222)


def fill(root: Path) -> int:
    written = 0
    try:
        with open(root / "filler", "wb") as fh:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
                written += 65536
    except OSError:
        pass  # ENOSPC: the store is full; the loop has no other exit
    try:
        with open(root / "filler", "ab") as fh:  # the last partial block
            while True:
                fh.write(b"\0" * 512)
                fh.flush()
    except OSError:
        pass
    return written


def main() -> int:
    root, scenario, method = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    if method == "namespace":
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(root)], check=True)
    os.environ["SITOKEN_SIM_DIR"] = str(root / "sim")
    os.environ.pop("SOFTHSM2_CONF", None)
    from sitoken.pkcs11.softhsm import SimStore

    SimStore.default().activate()
    from sitoken import KeyType, Pin, pubkey
    from sitoken.certs import build_self_signed, to_pem
    from sitoken.certs.ontoken import TokenSigner, install_certificates
    from sitoken.discovery import create_simulated_token, open_token

    create_simulated_token(LABEL, Pin(SO_PIN), Pin(PIN))
    token = open_token(LABEL)
    token.login(Pin(PIN))
    token.generate_key(KeyType.EC_P256, "old")
    token.generate_key(KeyType.EC_P256, "pending")
    spki = token.public_key_der("old")
    pending_cert = build_self_signed(TokenSigner(token, "pending"), "CN=pending holder", 30)
    (root.parent / f"pending-{os.getpid()}.pem").write_bytes(to_pem([pending_cert]))

    def signs() -> bool:
        data = b"record signed under the fault"
        return pubkey.verify_host(spki, data, token.sign("old", data), KeyType.EC_P256.default_mechanism)

    report: dict[str, object] = {"scenario": scenario, "method": method}
    if scenario == "ro":
        set_writable(root, False, method)
        probe = outcome(lambda: (root / "sim" / "tokens" / "probe").write_text("x"))
        report["store_write_refused"] = not probe["ok"]
    else:
        report["filler_bytes"] = fill(root)
        report["free_bytes"] = os.statvfs(root).f_bavail * os.statvfs(root).f_frsize
    report["keygen"] = outcome(lambda: token.generate_key(KeyType.EC_P256, "new").label)
    report["cert_import"] = outcome(lambda: install_certificates(token, pending_cert).certificate.label)
    report["old_key_signs"] = outcome(signs)
    report["keys"] = outcome(lambda: sorted(k.label for k in token.keys()))
    cert_file = str(root.parent / f"pending-{os.getpid()}.pem")
    report["cli_keygen"] = cli("key", "generate", "--token", LABEL, "--type", "ec-p256", "--label", "cli-new",
                               "--pin-env", "PIN")
    report["cli_cert_import"] = cli("cert", "import", cert_file, "--token", LABEL, "--key", "pending",
                                    "--pin-env", "PIN")
    report["cli_sign"] = cli("sign", "--token", LABEL, "--key", "old", "--in", "/proc/version",
                             "--out", "/dev/null", "--pin-env", "PIN")
    # A fresh start of the module reads the store back: the old key is whole and nothing half-made.
    token.close()
    token.module.reinitialize()  # type: ignore[attr-defined]
    token = open_token(LABEL)
    token.login(Pin(PIN))
    report["reloaded_keys"] = outcome(lambda: sorted(k.label for k in token.keys()))
    report["reloaded_certificates"] = outcome(lambda: len(token.certificates()))
    report["reloaded_old_key_signs"] = outcome(signs)
    # Recovery: writable (or space) again, and the token takes new objects.
    if scenario == "ro":
        set_writable(root, True, method)
        # SoftHSM marks its token object invalid after a write failed (here: the login's write of
        # the PIN counters), so a process sees the store writable again only after a restart.
        token.close()
        token.module.reinitialize()  # type: ignore[attr-defined]
        token = open_token(LABEL)
        token.login(Pin(PIN))
    else:
        (root / "filler").unlink()  # no restart: the same session takes new objects again
    report["recovered_keygen"] = outcome(lambda: token.generate_key(KeyType.EC_P256, "after").label)
    report["recovered_cert_import"] = outcome(lambda: install_certificates(token, pending_cert).certificate.label)
    report["recovered_incomplete_objects"] = outcome(token.remove_incomplete_objects)
    token.close()
    print(json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
