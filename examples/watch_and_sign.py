"""Wait for a USB-Key or card to be inserted, then sign a document with it and check the signature.

What it shows: ``sitoken.pcsc.readers.watch`` (reader and card events as an iterator,
bounded by a timeout), opening the OpenPGP card in the reader the event names
(``OpenPgpCard.open``), the user PIN from a variable, signing with the card's signature key
and verifying on the host with the public key read from the card. A card pulled out
half-way (``TokenAbsent``) is reported and the script waits for the next insertion.

Run it on the PC/SC test bed (docs/pcsc.md), then insert a card within the timeout::

    python -m testbed.pcsc_bed start            # prints the PCSCLITE_CSOCK_NAME export
    export PCSCLITE_CSOCK_NAME=/tmp/sitoken-pcsc/pcscd.comm
    CARD_PIN=123456 CARD_ADMIN_PIN=12345678 .venv/bin/python examples/watch_and_sign.py \\
        --timeout 60 --admin-pin-env CARD_ADMIN_PIN &
    python -m testbed.pcsc_bed insert

``--admin-pin-env`` lets it generate the signature key on a blank card. Exit status 0 after
one good signature; 1 when no usable card came within ``--timeout`` seconds; 2 on bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sitoken import KeyType, Mechanism, Pin
from sitoken.errors import KeyNotFound, SitokenError, TokenAbsent, TokenNotFound
from sitoken.pcsc.openpgp import OpenPgpCard
from sitoken.pcsc.readers import EventKind, watch
from sitoken.pubkey import verify_host

KEY = "sig"
MECHANISM = Mechanism.RSA_PKCS_SHA256


def sign_with_card(reader: str, data: bytes, pin: str, admin_pin: str | None) -> bytes:
    """Open the card in ``reader``, make sure it has a signature key, sign ``data`` and check it."""
    with OpenPgpCard.open(reader) as card:
        info = card.info()
        print(f"card {info.serial} ({info.model}) in {reader!r}", flush=True)
        try:
            card.find_key(KEY)
        except KeyNotFound:
            if admin_pin is None:
                raise
            card.login_admin(Pin(admin_pin))
            card.generate_key(KeyType.RSA2048, KEY)
            print("generated an RSA-2048 signature key on the card", flush=True)
        spki = card.public_key_der(KEY)
        card.login(Pin(pin))
        signature = card.sign(KEY, data, MECHANISM)
    if not verify_host(spki, data, signature, MECHANISM):
        raise SystemExit("the card's signature does not verify")
    return signature


def wanted(reader: str, selector: str | None) -> bool:
    return selector is None or selector == reader or selector.lower() in reader.lower()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, required=True, help="give up after this many seconds")
    parser.add_argument("--reader", help="only this reader (exact name or part of it)")
    parser.add_argument("--pin-env", metavar="VAR", default="CARD_PIN", help="variable holding the user PIN")
    parser.add_argument("--admin-pin-env", metavar="VAR", help="variable holding the admin PIN (key generation)")
    parser.add_argument("--in", dest="input", type=Path, help="document to sign (default: a built-in text)")
    parser.add_argument("--out", type=Path, help="where to write the signature")
    parser.add_argument("--no-initial", action="store_true", help="ignore cards already inserted")
    args = parser.parse_args(argv)
    pin = os.environ.get(args.pin_env)
    if pin is None:
        parser.error(f"set {args.pin_env} to the card's user PIN")
    admin_pin = os.environ.get(args.admin_pin_env) if args.admin_pin_env else None
    data = args.input.read_bytes() if args.input else b"signed after insertion\n"
    print(f"waiting up to {args.timeout:g} s for a card", flush=True)
    for event in watch(timeout=args.timeout, initial=not args.no_initial):
        if event.kind is not EventKind.CARD_INSERTED or not wanted(event.reader, args.reader):
            continue
        print(f"card inserted in {event.reader!r}", flush=True)
        try:
            signature = sign_with_card(event.reader, data, pin, admin_pin)
        except (TokenAbsent, TokenNotFound) as exc:
            print(f"not usable ({exc}); waiting for another card", flush=True)
            continue
        except SitokenError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if args.out:
            args.out.write_bytes(signature)
        print(f"signed {len(data)} bytes: {len(signature)}-byte signature verified on the host", flush=True)
        return 0
    print(f"no usable card within {args.timeout:g} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
