"""Provision a simulated USB-Key: PINs, a key pair, a request, a certificate from a local CA.

What it shows, step by step, with the library calls that do each step:

1. a new simulated token with its SO PIN and user PIN (``discovery.create_simulated_token``);
2. opening it and logging in (``discovery.open_token``, ``Token.login``);
3. an EC P-256 key pair generated on the token (``Token.generate_key``);
4. a PKCS#10 request signed by that key (``certs.build_csr`` with ``certs.ontoken.TokenSigner``);
5. a local demo CA that issues the certificate (``certs.LocalCA``);
6. the certificate and its chain installed next to the key (``certs.ontoken.install_certificates``).

Run it (nothing outside a temporary directory is touched; PINs come from variables)::

    .venv/bin/python examples/provision_token.py
    EXAMPLE_SO_PIN=... EXAMPLE_PIN=... .venv/bin/python examples/provision_token.py --store /tmp/demo-store

Exit status 0 when the certificate is on the token and belongs to the key.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from _store import add_store_arguments, pins, simulated_store

from sitoken import KeyType, Pin
from sitoken.certs import LocalCA, build_csr, to_pem
from sitoken.certs.ontoken import TokenSigner, certificate_for_key, install_certificates
from sitoken.discovery import create_simulated_token, open_token
from sitoken.token import Token


@dataclass(frozen=True)
class Provisioned:
    """What the provisioning left behind: the token's label, the key, and the CA directory."""

    token_label: str
    key_label: str
    ca_dir: Path


def provision(label: str, subject: str, ca_dir: Path, so_pin: str, user_pin: str, key: str = "sign-key") -> Provisioned:
    """Create the token and give it a key pair with a certificate from the local CA in ``ca_dir``."""
    info = create_simulated_token(label, Pin(so_pin), Pin(user_pin))
    print(f"token created: {info.label} (serial {info.serial}); user PIN set: {info.pin.initialized}")
    with open_token(label) as token:
        token.login(Pin(user_pin))
        key_info = token.generate_key(KeyType.EC_P256, key)
        print(f"key generated on the token: {key_info.label} ({KeyType.EC_P256.value}, id {key_info.id})")
        request = build_csr(TokenSigner(token, key), subject, extended_key_usage=["client_auth"])
        print(f"certificate request signed by the token key: {len(request)} bytes")
        ca = LocalCA.open(ca_dir) if (ca_dir / "root.pem").exists() else LocalCA.init(ca_dir)
        issued = ca.issue(request, days=365)
        installed = install_certificates(token, to_pem([issued.certificate, *issued.chain]))
        print(f"certificate installed: {installed.certificate.info.subject} "
              f"(chain added: {', '.join(installed.added_chain) or 'none'})")
        _check(token, key)
    return Provisioned(label, key, ca_dir)


def _check(token: Token, key: str) -> None:
    certificate = certificate_for_key(token, key)
    print(f"the token holds the certificate for {key!r}: {certificate.info.subject}, "
          f"valid until {certificate.info.not_after:%Y-%m-%d}, status {certificate.info.status}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_store_arguments(parser)
    parser.add_argument("--label", default="example-key", help="token label")
    parser.add_argument("--subject", default="CN=Example Holder,O=sitoken examples,C=CN")
    args = parser.parse_args(argv)
    so_pin, user_pin = pins(args)
    with simulated_store(args.store) as root:
        provision(args.label, args.subject, root / "ca", so_pin, user_pin)
    print("provisioned")
    return 0


if __name__ == "__main__":
    sys.exit(main())
