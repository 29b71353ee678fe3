"""Sign a document with CMS on a token whose certificate comes from the local CA, then verify it.

What it shows: ``signing.cms.sign_cms`` with a ``TokenSigner`` (the private key never leaves
the token; the certificate and its chain are read from the token with
``certs.ontoken.certificate_for_key`` / ``chain_for``), and ``signing.cms.verify_cms`` against
the local CA's root as the trust anchor. The token is provisioned first by
``provision_token.provision`` (the example next to this one) in a throwaway store.

Run it::

    .venv/bin/python examples/sign_cms.py                          # a built-in document
    .venv/bin/python examples/sign_cms.py --in contract.pdf --out contract.p7s --ca-out ca/

``openssl cms -verify -binary -inform DER -in contract.p7s -content contract.pdf
-CAfile ca/root.pem -purpose any`` accepts the result. Exit status 0 when the signature verifies.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from _store import add_store_arguments, pins, simulated_store
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from provision_token import provision

from sitoken import Pin
from sitoken.certs.ontoken import TokenSigner, certificate_for_key, chain_for
from sitoken.discovery import open_token
from sitoken.signing.cms import sign_cms, verify_cms

DOCUMENT = b"Social-insurance record 2026-11: contribution of 1,234.00 CNY confirmed.\n"


def sign_document(token_label: str, key: str, user_pin: str, document: bytes) -> bytes:
    """A detached CMS SignedData over ``document``, made by the token key with its certificate."""
    with open_token(token_label) as token:
        token.login(Pin(user_pin))
        certificate = certificate_for_key(token, key)
        chain = chain_for(token, certificate)[1:]
        return sign_cms(TokenSigner(token, key), certificate.der, document, chain=chain)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_store_arguments(parser)
    parser.add_argument("--in", dest="input", type=Path, help="document to sign (default: a built-in text)")
    parser.add_argument("--out", type=Path, help="where to write the DER CMS signature")
    parser.add_argument("--ca-out", type=Path, help="copy the local CA's root.pem here (for openssl)")
    args = parser.parse_args(argv)
    so_pin, user_pin = pins(args)
    document = args.input.read_bytes() if args.input else DOCUMENT
    with simulated_store(args.store) as root:
        done = provision("cms-example", "CN=CMS Example,O=sitoken examples,C=CN", root / "ca", so_pin, user_pin)
        signature = sign_document(done.token_label, done.key_label, user_pin, document)
        print(f"CMS signature: {len(signature)} bytes over {len(document)} bytes of content")
        anchor = x509.load_pem_x509_certificate((done.ca_dir / "root.pem").read_bytes())
        result = verify_cms(signature, document, trust=[anchor.public_bytes(Encoding.DER)])
        print(f"verified: signer {result.signer_subject}, mechanism {result.mechanism.value}, "
              f"path of {len(result.path)} certificates to the local root")
        if args.out:
            args.out.write_bytes(signature)
        if args.ca_out:
            args.ca_out.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(done.ca_dir / "root.pem", args.ca_out / "root.pem")
    return 0


if __name__ == "__main__":
    sys.exit(main())
