"""Run in a process of its own by test_lengths.py: batches on every path through a lying module.

argv: the lying module, the SoftHSM module it wraps, a scratch directory. Optional
SITOKEN_TEST_NATIVE_SO: a sitoken._native built elsewhere (the AddressSanitizer build) to load
instead of the installed one. Prints one JSON object; exits non-zero only on a crash.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import sys
from pathlib import Path


def _use_extension(path: str) -> None:
    spec = importlib.util.spec_from_file_location("sitoken._native", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["sitoken._native"] = module


def main() -> None:
    liar, target, scratch = sys.argv[1:4]
    if os.environ.get("SITOKEN_TEST_NATIVE_SO"):
        _use_extension(os.environ["SITOKEN_TEST_NATIVE_SO"])
    os.environ["LYING_PKCS11_TARGET"] = target
    os.environ.pop("LYING_PKCS11_MODE", None)

    from sitoken import pubkey
    from sitoken._native_loader import native_status
    from sitoken.errors import TokenError
    from sitoken.pin import Pin
    from sitoken.pkcs11 import Module, Pkcs11Token, free_slot
    from sitoken.pkcs11.softhsm import SimStore
    from sitoken.signing.batch import batch_key_for, sign_batch
    from sitoken.token import KeyType, mechanisms_for

    SimStore(Path(scratch)).activate()
    module = Module.load(liar)
    token = Pkcs11Token(module, free_slot(module))
    token.init_token(Pin("child-so-135"), "lengths")
    token.init_pin(Pin("child-so-135"), Pin("child7pin2"))
    token.login(Pin("child7pin2"))
    kinds = (KeyType.EC_P256, KeyType.ED25519, KeyType.RSA2048)
    for kt in kinds:
        token.generate_key(kt, kt.value)
    messages = [b"record %d" % i for i in range(60)]

    def attempt(what: str, run) -> str:  # type: ignore[no-untyped-def]
        try:
            run()
        except TokenError as exc:
            return f"{type(exc).__name__}: {exc}"
        return f"{what}: accepted"

    def forget_mechanisms() -> None:
        token._mechanisms = None
        token.capabilities  # noqa: B018 - reads C_GetMechanismList

    lies: dict[str, list[str]] = {}
    key = batch_key_for(token, KeyType.EC_P256.value)
    checks = {
        "sign": [
            lambda: token.sign("ec-p256", b"x"),
            lambda: sign_batch(key, messages, native=True, threads=2),
            lambda: sign_batch(key, messages, native=True, ecdsa_format="raw"),
            lambda: sign_batch(key, messages, native=False),
        ],
        "attribute": [lambda: token.keys()],
        "find": [lambda: token.keys()],
        "slots": [lambda: module.token_infos()],
        "mechanisms": [forget_mechanisms],
    }
    for mode, runs in checks.items():
        os.environ["LYING_PKCS11_MODE"] = mode
        lies[mode] = [attempt(mode, run) for run in runs]
        del os.environ["LYING_PKCS11_MODE"]

    verified = {}
    for kt in kinds:
        public = token.public_key_der(kt.value)
        key = batch_key_for(token, kt.value)
        for mechanism in mechanisms_for(kt):
            signatures = sign_batch(key, messages, mechanism=mechanism, threads=2, chunk_size=16)
            verified[mechanism.value] = all(
                pubkey.verify_host(public, m, s, mechanism) for m, s in zip(messages, signatures, strict=True)
            )
    calls = ctypes.CDLL(liar).lying_pkcs11_function_list_calls()
    token.close()
    print(json.dumps({
        "native": native_status().active,
        "lies": lies,
        "verified": verified,
        "function_list_calls": calls,
    }))


if __name__ == "__main__":
    main()
