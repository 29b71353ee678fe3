"""Batch-sign many records with one token key through ``signing.batch.sign_many``; report signatures/s.

What it shows: ``batch_key_for`` turns a logged-in token key into a ``BatchKey``, and
``sign_many`` signs an iterable of records in chunks, each chunk in one call into the native
extension (``sitoken._native``) when it is built, else call by call from Python. Signatures come
back in input order; every one is checked on the host with the exported public key.

Run it::

    .venv/bin/python examples/batch_sign.py                         # 2000 EC P-256 signatures
    .venv/bin/python examples/batch_sign.py --count 500 --key-type rsa2048 --threads 2
    SITOKEN_NO_NATIVE=1 .venv/bin/python examples/batch_sign.py     # the per-call Python path

``--require-native`` fails (exit 2) when the extension is not active. Exit status 0 when every
signature verifies.
"""

from __future__ import annotations

import argparse
import sys
import time

from _store import add_store_arguments, pins, simulated_store

from sitoken import KeyType, Pin
from sitoken._native_loader import native_status
from sitoken.discovery import create_simulated_token, open_token
from sitoken.pkcs11 import Pkcs11Token
from sitoken.pubkey import verify_host
from sitoken.signing.batch import batch_key_for, sign_many


def records(count: int) -> list[bytes]:
    return [f"record {i:06d}: contribution period 2026-{i % 12 + 1:02d}".encode() for i in range(count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_store_arguments(parser)
    parser.add_argument("--count", type=int, default=2000, help="records to sign")
    parser.add_argument("--key-type", default="ec-p256", choices=[k.value for k in KeyType])
    parser.add_argument("--threads", type=int, default=None, help="signing threads (default: per module)")
    parser.add_argument("--require-native", action="store_true", help="fail unless the extension is active")
    args = parser.parse_args(argv)
    status = native_status()
    print(f"signing path: {'native' if status.active else 'per-call python'} ({status.reason})")
    if args.require_native and not status.active:
        print("the native extension is not active", file=sys.stderr)
        return 2
    so_pin, user_pin = pins(args)
    key_type = KeyType(args.key_type)
    with simulated_store(args.store):
        create_simulated_token("batch-example", Pin(so_pin), Pin(user_pin))
        with open_token("batch-example") as token:
            assert isinstance(token, Pkcs11Token)  # batch signing goes through the PKCS#11 driver
            token.login(Pin(user_pin))
            token.generate_key(key_type, "batch-key")
            spki = token.public_key_der("batch-key")
            inputs = records(args.count)
            started = time.perf_counter()
            signatures = list(sign_many(batch_key_for(token, "batch-key"), inputs, threads=args.threads))
            elapsed = time.perf_counter() - started
    mechanism = key_type.default_mechanism
    pairs = zip(inputs, signatures, strict=False)  # a short result is reported below, not raised
    bad = [i for i, (data, sig) in enumerate(pairs) if not verify_host(spki, data, sig, mechanism)]
    print(f"signed {len(signatures)} records with {key_type.value} ({mechanism.value}) in {elapsed:.2f} s: "
          f"{len(signatures) / elapsed:.0f} signatures/s")
    if len(signatures) != len(inputs) or bad:
        print(f"{len(inputs) - len(signatures)} missing, {len(bad)} do not verify", file=sys.stderr)
        return 1
    print(f"all {len(signatures)} signatures verify on the host")
    return 0


if __name__ == "__main__":
    sys.exit(main())
