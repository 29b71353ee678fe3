"""Shared by the SKF tests: an independent check of every SM2 signature with the openssl CLI."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from sitoken.pubkey import spki_to_pem
from sitoken.sm2 import DEFAULT_ID


def openssl_verifies(spki: bytes, data: bytes, signature: bytes, ident: bytes = DEFAULT_ID) -> bool:
    """``openssl dgst -sm3 -verify PUB -sigopt distid:ID``: OpenSSL's own Z, not sitoken's."""
    openssl = shutil.which("openssl")
    assert openssl, "the openssl CLI is part of the test bed (Debian package openssl)"
    with tempfile.TemporaryDirectory(prefix="sitoken-sm2-") as tmp:
        pub, msg, sig = Path(tmp, "pub.pem"), Path(tmp, "msg"), Path(tmp, "sig.der")
        pub.write_bytes(spki_to_pem(spki))
        msg.write_bytes(data)
        sig.write_bytes(signature)
        run = subprocess.run(
            [openssl, "dgst", "-sm3", "-verify", str(pub), "-sigopt", f"distid:{ident.decode('latin-1')}",
             "-signature", str(sig), str(msg)],
            capture_output=True, text=True, check=False,
        )
    return run.returncode == 0 and "Verified OK" in run.stdout
