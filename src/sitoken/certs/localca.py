"""A local demo/QA certificate authority on disk: root, optional intermediate, leaf issuance."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, NamedTuple, cast

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..algorithms import hash_algorithm
from ..errors import InvalidInput, OutputExists
from ..safefiles import create_exclusive
from ..token import KeyType
from .keys import SoftwareSigner, key_type_of
from .parse import load_certificates, to_pem
from .sniff import expected

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: single-process use only
    fcntl = None  # type: ignore[assignment]

ROOT_CERT, ROOT_KEY = "root.pem", "root.key"
INTER_CERT, INTER_KEY = "intermediate.pem", "intermediate.key"
SERIAL_FILE, ISSUED_DIR = "serial", "issued"
# Identity-number extensions (DOMAIN.md §5.2) a request may carry; the CA copies them.
IDENTITY_OIDS = frozenset({"1.2.156.10260.4.4"})
IDENTITY_OID_PREFIXES = ("1.2.156.10260.4.1.", "1.2.156.11.7.")
_BACKDATE = timedelta(minutes=5)  # tolerate relying parties whose clocks run a little slow


@dataclass(frozen=True)
class Profile:
    """What a leaf certificate may be used for."""

    name: str
    non_repudiation: bool
    key_encipherment: bool
    eku: tuple[x509.ObjectIdentifier, ...]
    needs_dns_name: bool = False


PROFILES = {
    p.name: p
    for p in (
        Profile("personal", True, False,
                (ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION)),
        Profile("organisation", True, False,
                (ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION)),
        Profile("server", False, True, (ExtendedKeyUsageOID.SERVER_AUTH,), needs_dns_name=True),
    )
}


class Issued(NamedTuple):
    """An issued leaf and the chain above it (issuing CA first, root last)."""

    certificate: bytes
    chain: tuple[bytes, ...]


def _hash_for(signer: SoftwareSigner) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None:
    """The hash of the key type's default mechanism (None for Ed25519, which hashes inside)."""
    name = signer.key_type.default_mechanism.hash_name
    return cast("hashes.SHA256 | hashes.SHA384 | hashes.SHA512", hash_algorithm(name)) if name else None


def _write_new(path: Path, data: bytes, *, private: bool = False) -> None:
    # Keys are 0600 from the start (a chmod afterwards would leave a window); nothing is ever
    # written over an existing file or through a link.
    try:
        create_exclusive(path, data, private=private)
    except OutputExists:
        raise InvalidInput(f"{path} exists: remove the half-made CA first") from None


def _ca_certificate(
    subject: x509.Name, signer: SoftwareSigner, issuer: x509.Certificate | None,
    issuer_signer: SoftwareSigner, days: int, path_length: int,
) -> x509.Certificate:
    now = datetime.now(timezone.utc)
    public_key = signer.private_key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(min(now + timedelta(days=days),
                             issuer.not_valid_after_utc if issuer else now + timedelta(days=days)))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    aki_key = (issuer.public_key() if issuer else public_key)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(aki_key), critical=False)  # type: ignore[arg-type]
    return builder.sign(issuer_signer.private_key, _hash_for(issuer_signer))


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )


def _ca_name(name: str, role: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "demo and QA only - not trusted"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"{name} {role}"),
    ])


class LocalCA:
    """A demo/QA issuer on disk. Its keys sit in PEM files: never use it for real holders."""

    def __init__(self, directory: Path, root: x509.Certificate,
                 issuer: x509.Certificate, issuer_signer: SoftwareSigner) -> None:
        self.directory = directory
        self.root = root
        self.issuer = issuer
        self._signer = issuer_signer

    @classmethod
    def init(
        cls, directory: str | os.PathLike[str], *, name: str = "sitoken Local CA",
        key_type: KeyType = KeyType.EC_P256, with_intermediate: bool = True,
        days: int = 3650,
    ) -> LocalCA:
        """Create a root (and an intermediate that issues leaves) in ``directory``."""
        path = Path(directory)
        if (path / ROOT_CERT).exists():
            raise InvalidInput(f"{path} already holds a local CA")
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        root_signer = SoftwareSigner.generate(key_type)
        root = _ca_certificate(_ca_name(name, "Root CA"), root_signer, None, root_signer,
                               days, 1 if with_intermediate else 0)
        _write_new(path / ROOT_KEY, root_signer.to_pem(), private=True)
        _write_new(path / ROOT_CERT, root.public_bytes(serialization.Encoding.PEM))
        if not with_intermediate:
            return cls(path, root, root, root_signer)
        signer = SoftwareSigner.generate(key_type)
        inter = _ca_certificate(_ca_name(name, "Issuing CA"), signer, root, root_signer,
                                days // 2, 0)
        _write_new(path / INTER_KEY, signer.to_pem(), private=True)
        _write_new(path / INTER_CERT, inter.public_bytes(serialization.Encoding.PEM))
        return cls(path, root, inter, signer)

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> LocalCA:
        """Open a CA that :meth:`init` created."""
        path = Path(directory)
        if not (path / ROOT_CERT).exists():
            raise InvalidInput(f"{path} holds no local CA (run init first)")
        root = _read_cert(path / ROOT_CERT)
        cert_file, key_file = (INTER_CERT, INTER_KEY) if (path / INTER_CERT).exists() \
            else (ROOT_CERT, ROOT_KEY)
        issuer = _read_cert(path / cert_file)
        signer = SoftwareSigner.from_pem((path / key_file).read_bytes())
        if signer.public_key_der() != issuer.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
            raise InvalidInput(f"{path / key_file} is not the key of {path / cert_file}")
        return cls(path, root, issuer, signer)

    @property
    def chain(self) -> tuple[bytes, ...]:
        """The CA certificates above a leaf: issuing CA first, root last."""
        ders = [self.issuer.public_bytes(serialization.Encoding.DER)]
        if self.issuer != self.root:
            ders.append(self.root.public_bytes(serialization.Encoding.DER))
        return tuple(ders)

    def issue(self, csr_der: bytes, *, days: int = 365, profile: str = "personal",
              now: datetime | None = None) -> Issued:
        """Check a request's signature, then issue a leaf for its key, subject and SANs."""
        if profile not in PROFILES:
            raise InvalidInput(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
        if days < 1:
            raise InvalidInput("a certificate must be valid for at least one day")
        request = _load_request(csr_der)
        cert = self._leaf(request, PROFILES[profile], days,
                          (now or datetime.now(timezone.utc)).astimezone(timezone.utc))
        der = cert.public_bytes(serialization.Encoding.DER)
        issued = self.directory / ISSUED_DIR
        issued.mkdir(mode=0o700, exist_ok=True)
        create_exclusive(issued / f"{cert.serial_number:x}.pem", to_pem([der]), private=False)
        return Issued(der, self.chain)

    def _leaf(self, request: x509.CertificateSigningRequest, profile: Profile, days: int,
              now: datetime) -> x509.Certificate:
        public_key = request.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(request.subject)
            .issuer_name(self.issuer.subject)
            .public_key(public_key)
            .serial_number(self._next_serial())
            .not_valid_before(now - _BACKDATE)
            # A leaf outliving its issuer would fail path validation on the last days.
            .not_valid_after(min(now + timedelta(days=days), self.issuer.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_key_usage(profile, public_key), critical=True)
            .add_extension(x509.ExtendedKeyUsage(list(profile.eku)), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.issuer.public_key()), critical=False)  # type: ignore[arg-type]
        )
        for extension in _copied_extensions(request, profile):
            builder = builder.add_extension(extension.value, critical=extension.critical)
        return builder.sign(self._signer.private_key, _hash_for(self._signer))

    def _next_serial(self) -> int:
        return next_serial(self.directory)


def next_serial(directory: Path) -> int:
    """Random low 64 bits under a time-based high part, kept increasing across runs."""
    with _locked(directory / SERIAL_FILE) as fh:
        fh.seek(0)
        last = int(fh.read().strip() or "0", 16)
        serial = max((time.time_ns() // 1000) << 64 | secrets.randbits(64), last + 1)
        fh.seek(0)
        fh.truncate()
        fh.write(f"{serial:x}\n")
    return serial


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[IO[str]]:
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW  # never through a planted link
    with open(os.open(path, flags, 0o600), "a+", encoding="ascii") as fh:
        if fcntl is not None:
            # Two counters issuing at once must not hand out the same serial.
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield fh


def _read_cert(path: Path) -> x509.Certificate:
    ders = load_certificates(path.read_bytes())
    return x509.load_der_x509_certificate(ders[0])


def _load_request(data: bytes) -> x509.CertificateSigningRequest:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            request = x509.load_pem_x509_csr(data)
        else:
            request = x509.load_der_x509_csr(data)
        valid = request.is_signature_valid
        key_type = key_type_of(request.public_key())
        request.extensions  # noqa: B018 - parsed lazily; a malformed one must fail here
    except UnsupportedAlgorithm:
        raise InvalidInput("the certificate request's key type is not supported") from None
    except ValueError:  # cryptography's Rust parser error text is not for people: say what the file is
        raise expected("a certificate request", data) from None
    if not valid:
        raise InvalidInput("the certificate request's signature does not verify")
    if key_type is None:
        raise InvalidInput("the request's key is not one sitoken issues for (RSA, EC, Ed25519)")
    if not len(request.subject):
        raise InvalidInput("the certificate request has an empty subject")
    return request


def _leaf_key_usage(profile: Profile, public_key: object) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=profile.non_repudiation,
        key_encipherment=profile.key_encipherment and isinstance(public_key, rsa.RSAPublicKey),
        data_encipherment=False,
        key_agreement=profile.key_encipherment
        and isinstance(public_key, ec.EllipticCurvePublicKey),
        key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
    )


def _copied_extensions(request: x509.CertificateSigningRequest,
                       profile: Profile) -> list[x509.Extension[x509.ExtensionType]]:
    copied = [
        e for e in request.extensions
        if e.oid == x509.ObjectIdentifier("2.5.29.17")
        or e.oid.dotted_string in IDENTITY_OIDS
        or e.oid.dotted_string.startswith(IDENTITY_OID_PREFIXES)
    ]
    dns = [n for e in copied if isinstance(e.value, x509.SubjectAlternativeName)
           for n in e.value.get_values_for_type(x509.DNSName)]
    if profile.needs_dns_name and not dns:
        raise InvalidInput(f"profile {profile.name} needs a dns: subject alt name in the request")
    return copied
