"""Certificates without a token: requests, self-signed certificates, parsing, chains, a local CA."""

from __future__ import annotations

from .extensions import CustomExtension, text_extension
from .info import CertInfo, cert_info, spki_fingerprint
from .keys import KeySigner, SoftwareSigner
from .localca import Issued, LocalCA
from .names import format_name, name_der, parse_name
from .parse import csr_pem, leaf_of, load_certificates, order_chain, public_key_matches, to_pem
from .path import validate_path
from .request import build_csr, build_self_signed

__all__ = [
    "CertInfo",
    "CustomExtension",
    "Issued",
    "KeySigner",
    "LocalCA",
    "SoftwareSigner",
    "build_csr",
    "build_self_signed",
    "cert_info",
    "csr_pem",
    "format_name",
    "leaf_of",
    "load_certificates",
    "name_der",
    "order_chain",
    "parse_name",
    "public_key_matches",
    "spki_fingerprint",
    "text_extension",
    "to_pem",
    "validate_path",
]
