"""The binding in ABI mode (ffi.dlopen on cryptoki.h, as on a machine without a compiler):
the same token flow, in a process of its own so the module is loaded that way from the start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.softhsm

FLOW = textwrap.dedent('''
    import json, sys
    from pathlib import Path
    from sitoken import pubkey
    from sitoken._native_loader import native_status
    from sitoken.pin import Pin
    from sitoken.pkcs11 import Module, Pkcs11Token, free_slot
    from sitoken.pkcs11.softhsm import SimStore, softhsm_module
    from sitoken.signing.batch import batch_key_for, sign_batch
    from sitoken.token import KeyType

    SimStore(Path(sys.argv[1])).activate()
    module = Module.load(softhsm_module())
    token = Pkcs11Token(module, free_slot(module))
    token.init_token(Pin("abi-so-2468"), "abi")
    token.init_pin(Pin("abi-so-2468"), Pin("abi7pin35"))
    token.login(Pin("abi7pin35"))
    out = {"binding": module.description["binding"], "native": native_status().active, "ok": {}}
    for kt in (KeyType.EC_P256, KeyType.RSA2048):
        token.generate_key(kt, kt.value)
        spki, mech = token.public_key_der(kt.value), kt.default_mechanism
        sig = token.sign(kt.value, b"doc")
        key = batch_key_for(token, kt.value)
        batches = [sign_batch(key, [b"a", b"b"], native=n) for n in ((False, True) if out["native"] else (False,))]
        out["ok"][kt.value] = (
            token.verify(kt.value, b"doc", sig) and pubkey.verify_host(spki, b"doc", sig, mech)
            and all(pubkey.verify_host(spki, m, s, mech) for b in batches for m, s in zip([b"a", b"b"], b))
        )
    token.close()
    print(json.dumps(out))
''')


def test_token_flow_in_abi_mode(tmp_path):
    env = {**os.environ, "SITOKEN_PKCS11_ABI": "1"}
    done = subprocess.run([sys.executable, "-c", FLOW, str(tmp_path)], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["binding"] == "abi"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        assert result["native"] is True  # the batch ran natively on the ABI-mode function list too
    assert result["ok"] == {"ec-p256": True, "rsa2048": True}
