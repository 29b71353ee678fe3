"""Issuers for the counter workflow: the local CA (demo/QA default) and a file hand-off to a real CA."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..certs import LocalCA, csr_pem, load_certificates, order_chain, public_key_matches
from ..certs.dual import request_spki
from ..certs.parse import leaf_of
from ..certs.sm2ca import KmcDelivery, Sm2LocalCA, is_sm2_ca
from ..errors import InvalidInput
from ..safefiles import write_file
from .profiles import CertProfile

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process at a time
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileHandoffIssuer", "Issuance", "Issuer", "LocalCAIssuer", "Sm2LocalCAIssuer", "local_issuer",
           "split_issued"]


@dataclass(frozen=True)
class Issuance:
    """What an issuer gave back: a certificate and its chain, or the path of a request handed off."""

    certificate: bytes | None
    chain: tuple[bytes, ...] = ()
    handoff: str | None = None
    adopted: bool = False  # found already issued for this key (a rerun after a crash)

    @property
    def pending(self) -> bool:
        return self.certificate is None


class Issuer(Protocol):
    """Turns a request into a certificate, now or later."""

    name: str
    #: The profile for each kind of applicant when none is chosen (an SM2 CA: the dual ones).
    default_profiles: dict[str, str]

    def issue(self, csr_der: bytes, profile: CertProfile, reference: str, *, resuming: bool = False) -> Issuance: ...

    def trust_anchors(self, chain: Sequence[bytes]) -> tuple[bytes, ...]: ...


def _spki_of_request(csr_der: bytes) -> bytes:
    request = x509.load_der_x509_csr(csr_der)
    return request.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)


def _spki_of_certificate(der: bytes) -> bytes:
    cert = x509.load_der_x509_certificate(der)
    return cert.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


class LocalCAIssuer:
    """Issues at once from a LocalCA directory (created on first use). Demo and QA only."""

    name = "local-ca"
    default_profiles: dict[str, str] = {}  # noqa: RUF012 - read only: the profiles file decides

    def __init__(self, directory: str | os.PathLike[str], *, create: bool = True) -> None:
        path = Path(directory)
        if not (path / "root.pem").exists():
            if not create:
                raise InvalidInput(f"{path} holds no local CA (run 'sitoken ca init {path}')")
            _create_once(path)
        self.ca = LocalCA.open(path)
        self.directory = path

    def issue(self, csr_der: bytes, profile: CertProfile, reference: str, *, resuming: bool = False) -> Issuance:
        if resuming:
            earlier = self._already_issued(csr_der)
            if earlier is not None:
                return Issuance(earlier, self.ca.chain, adopted=True)
        leaf, chain = self.ca.issue(csr_der, days=profile.validity_days, profile=profile.ca_profile)
        return Issuance(leaf, chain)

    def _already_issued(self, csr_der: bytes) -> bytes | None:
        """A certificate this CA issued for the request's key before the process died, if any."""
        wanted = _spki_of_request(csr_der)
        issued = sorted((self.directory / "issued").glob("*.pem"), key=lambda p: p.stat().st_mtime)
        for path in reversed(issued):
            try:
                ders = load_certificates(path.read_bytes())
            except (InvalidInput, OSError):
                continue  # a file the CA was writing when the process died
            for der in ders:
                if _spki_of_certificate(der) == wanted:
                    return der
        return None

    def trust_anchors(self, chain: Sequence[bytes]) -> tuple[bytes, ...]:
        return (_der(self.ca.root),)


def _create_once(path: Path) -> None:
    """Create the CA at ``path`` exactly once, however many counters start at the same moment.

    Under a lock beside it, built in a temporary directory and renamed into place: a process
    killed half-way leaves no half-made CA that would stop every later run.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path.parent / f".{path.name}.lock", "a", encoding="ascii") as lock:
        if fcntl is not None:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if (path / "root.pem").exists():
            return  # another counter made it while this one waited
        for stale in path.parent.glob(f".{path.name}.new-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a process killed while making it
        building = path.parent / f".{path.name}.new-{os.getpid()}"
        LocalCA.init(building)
        os.replace(building, path)


class FileHandoffIssuer:
    """Writes the request to an outbox for a real CA; the certificate comes back through ``complete``."""

    name = "file"
    default_profiles: dict[str, str] = {}  # noqa: RUF012 - read only: --profile chooses for a real CA

    def __init__(self, outbox: str | os.PathLike[str], trust: Sequence[bytes] = ()) -> None:
        self.outbox = Path(outbox)
        self.trust = tuple(trust)

    def issue(self, csr_der: bytes, profile: CertProfile, reference: str, *, resuming: bool = False) -> Issuance:
        self.outbox.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.outbox / f"{reference}.{profile.ca_profile}.csr.pem"
        # Atomic (a CA picking up files never sees half a request), never through a link; only
        # a resumed enrolment writes its own request again.
        write_file(path, csr_pem(csr_der), force=resuming)
        return Issuance(None, handoff=str(path))

    def trust_anchors(self, chain: Sequence[bytes]) -> tuple[bytes, ...]:
        if self.trust:
            return self.trust
        # Without a configured anchor, the top of the returned chain is used: the round trip
        # then proves the key and certificate work, not that the CA is the right one.
        return (chain[-1],) if chain else ()


def split_issued(data: bytes) -> tuple[bytes, tuple[bytes, ...]]:
    """A returned certificate file: the holder's certificate, and its chain in order."""
    ders = load_certificates(data)
    leaf = leaf_of(ders)
    chain = order_chain(leaf, [d for d in ders if d != leaf])
    return leaf, tuple(chain[1:])


def request_matches(csr_der: bytes, certificate_der: bytes) -> bool:
    """True when the certificate is for the request's key (any key type, SM2 included)."""
    return public_key_matches(certificate_der, request_spki(csr_der))


class Sm2LocalCAIssuer:
    """An SM2 local CA (``ca init --algorithm sm2``) with its KMC stand-in. Demo and QA only.

    Signature certificates from requests, like ``LocalCAIssuer``; for a dual-certificate profile
    the KMC makes the encryption key pair, escrows it and delivers it in an envelope.
    """

    name = "local-sm2-ca"
    default_profiles = {"personal": "personal-sm2", "organisation": "organisation-sm2"}  # noqa: RUF012

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.ca = Sm2LocalCA.open(self.directory)

    def issue(self, csr_der: bytes, profile: CertProfile, reference: str, *, resuming: bool = False) -> Issuance:
        if resuming:
            earlier = self._already_issued(csr_der)
            if earlier is not None:
                return Issuance(earlier, self.ca.chain, adopted=True)
        issued = self.ca.issue(csr_der, days=profile.validity_days, profile=profile.ca_profile)
        return Issuance(issued.certificate, issued.chain)

    def _already_issued(self, csr_der: bytes) -> bytes | None:
        spki = request_spki(csr_der)
        for path in sorted((self.directory / "issued").glob("*.pem"), key=lambda p: p.stat().st_mtime, reverse=True):
            try:
                ders = load_certificates(path.read_bytes())
            except (InvalidInput, OSError):
                continue
            if ders and public_key_matches(ders[0], spki):
                return ders[0]
        return None

    def deliver_encryption(self, signature_certificate: bytes, profile: CertProfile) -> KmcDelivery:
        """The KMC's pair for this signature certificate (the same one again on a rerun)."""
        return self.ca.issue_encryption_pair(signature_certificate, days=profile.validity_days)

    def trust_anchors(self, chain: Sequence[bytes]) -> tuple[bytes, ...]:
        return (bytes(self.ca.root.dump()),)


def local_issuer(directory: str | os.PathLike[str]) -> LocalCAIssuer | Sm2LocalCAIssuer:
    """The local CA in ``directory``: an SM2 one (made with ``ca init --algorithm sm2``) or RSA/EC,
    created on first use."""
    if (Path(directory) / "root.pem").exists() and is_sm2_ca(directory):
        return Sm2LocalCAIssuer(directory)
    return LocalCAIssuer(directory)
