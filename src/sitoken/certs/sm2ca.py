"""An SM2 local demo/QA CA: root + issuing CA, SM2 signature and encryption certificates (asn1crypto).

pyca/cryptography can neither sign nor verify SM2, so the certificates are built here with
asn1crypto and signed SM2-with-SM3 through ``sitoken.sm2`` with GM/T 0009's default signer ID
(``openssl verify -vfyopt distid:1234567812345678`` accepts the chains).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from asn1crypto import csr, pem, x509

from ..errors import InvalidInput, SignatureInvalid
from ..sm2 import DEFAULT_ID, Sm2PrivateKey, Sm2PublicKey, is_sm2_spki, sm4
from ..sm2.envelope import EnvelopedKey
from ..token import KeyType, Mechanism
from . import extensions as ext
from .keys import sign_checked, signature_algorithm, verify_any
from .localca import (
    _BACKDATE,
    IDENTITY_OID_PREFIXES,
    IDENTITY_OIDS,
    INTER_CERT,
    INTER_KEY,
    ISSUED_DIR,
    ROOT_CERT,
    ROOT_KEY,
    Issued,
    _write_new,
    next_serial,
)
from .parse import load_certificates, to_pem
from .request import random_serial, x509_time
from .sniff import expected

_CA_USAGE = ("key_cert_sign", "crl_sign")
KMC_DIR, KMC_KEY = "kmc", "kmc.key"
DELIVERED_DIR = "delivered"  # kmc/delivered/<signature serial>: the encryption serial made for it
#: Key usage of the two certificates of a dual-certificate holder (GM/T 0015 practice).
SIGNATURE_USAGE = ("digital_signature", "non_repudiation")
ENCRYPTION_USAGE = ("key_encipherment", "data_encipherment", "key_agreement")
SM2_PROFILES = {
    "personal": ("client_auth", "email_protection"),
    "organisation": ("client_auth", "email_protection"),
}


class Sm2SoftwareSigner:
    """A KeySigner over an SM2 key in memory (the local CA's own keys); signs with one signer ID."""

    def __init__(self, key: Sm2PrivateKey, ident: bytes = DEFAULT_ID) -> None:
        self.key, self._ident = key, ident

    def __repr__(self) -> str:
        return "Sm2SoftwareSigner(<private>)"

    @property
    def key_type(self) -> KeyType:
        return KeyType.SM2

    @property
    def sm2_id(self) -> bytes | None:
        return self._ident

    def public_key_der(self) -> bytes:
        return self.key.public_key().spki

    def sign(self, data: bytes, mechanism: Mechanism) -> bytes:
        if mechanism is not Mechanism.SM2_SM3:
            raise InvalidInput(f"an SM2 key signs sm2-sm3, not {mechanism.value}")
        return self.key.sign(data, self._ident)


def _ca_name(name: str, role: str) -> x509.Name:
    return x509.Name.build({
        "country_name": "CN", "organization_name": name,
        "organizational_unit_name": "demo and QA only - not trusted", "common_name": f"{name} {role}",
    })


def _certificate(
    signer: Sm2SoftwareSigner, issuer: x509.Name, subject: x509.Name, spki_der: bytes,
    validity: tuple[datetime, datetime], extensions: Sequence[x509.Extension], *, serial: int,
) -> bytes:
    mechanism = Mechanism.SM2_SM3
    tbs = x509.TbsCertificate({
        "version": "v3",
        "serial_number": serial,
        "signature": signature_algorithm(mechanism),
        "issuer": issuer,
        "validity": {"not_before": x509_time(validity[0]), "not_after": x509_time(validity[1])},
        "subject": subject,
        "subject_public_key_info": x509.PublicKeyInfo.load(spki_der),
        "extensions": x509.Extensions(list(extensions)),
    })
    signature = sign_checked(signer, tbs.dump(), mechanism)
    return bytes(x509.Certificate({
        "tbs_certificate": tbs, "signature_algorithm": signature_algorithm(mechanism),
        "signature_value": signature,
    }).dump())


def _key_ids(subject_spki: bytes, issuer_spki: bytes) -> list[x509.Extension]:
    return [ext.subject_key_identifier(subject_spki),
            ext.authority_key_identifier(ext.key_identifier(issuer_spki))]


class Sm2LocalCA:
    """An SM2 demo/QA issuer on disk (PKCS#8 PEM keys, owner-only): never for real holders."""

    def __init__(self, directory: Path, root: x509.Certificate, issuer: x509.Certificate,
                 signer: Sm2SoftwareSigner) -> None:
        self.directory, self.root, self.issuer, self._signer = directory, root, issuer, signer

    @classmethod
    def init(cls, directory: str | os.PathLike[str], *, name: str = "sitoken SM2 Local CA",
             with_intermediate: bool = True, days: int = 3650) -> Sm2LocalCA:
        """Create an SM2 root (and an issuing CA under it) in ``directory``."""
        path = Path(directory)
        if (path / ROOT_CERT).exists():
            raise InvalidInput(f"{path} already holds a local CA")
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        now = datetime.now(timezone.utc)
        root_signer = Sm2SoftwareSigner(Sm2PrivateKey.generate())
        root = cls._ca_cert(root_signer, root_signer, None, _ca_name(name, "Root CA"),
                            (now - _BACKDATE, now + timedelta(days=days)), 1 if with_intermediate else 0)
        _store(path, ROOT_CERT, ROOT_KEY, root, root_signer)
        if not with_intermediate:
            return cls(path, root, root, root_signer)
        signer = Sm2SoftwareSigner(Sm2PrivateKey.generate())
        inter = cls._ca_cert(signer, root_signer, root, _ca_name(name, "Issuing CA"),
                             (now - _BACKDATE, now + timedelta(days=days // 2)), 0)
        _store(path, INTER_CERT, INTER_KEY, inter, signer)
        return cls(path, root, inter, signer)

    @staticmethod
    def _ca_cert(subject_signer: Sm2SoftwareSigner, issuer_signer: Sm2SoftwareSigner,
                 issuer: x509.Certificate | None, name: x509.Name, validity: tuple[datetime, datetime],
                 path_length: int) -> x509.Certificate:
        spki = subject_signer.public_key_der()
        extensions = [ext.basic_constraints(ca=True, path_length=path_length), ext.key_usage(_CA_USAGE),
                      *_key_ids(spki, issuer_signer.public_key_der())]
        der = _certificate(issuer_signer, issuer.subject if issuer else name, name, spki, validity, extensions,
                           serial=random_serial())
        return x509.Certificate.load(der)

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> Sm2LocalCA:
        path = Path(directory)
        root = _read_cert(path / ROOT_CERT)
        cert_file, key_file = (INTER_CERT, INTER_KEY) if (path / INTER_CERT).exists() else (ROOT_CERT, ROOT_KEY)
        issuer = _read_cert(path / cert_file)
        signer = Sm2SoftwareSigner(_read_key(path / key_file))
        if signer.public_key_der() != issuer.public_key.dump():
            raise InvalidInput(f"{path / key_file} is not the key of {path / cert_file}")
        return cls(path, root, issuer, signer)

    @property
    def chain(self) -> tuple[bytes, ...]:
        """The CA certificates above a leaf: issuing CA first, root last."""
        ders = [bytes(self.issuer.dump())]
        if self.issuer.dump() != self.root.dump():
            ders.append(bytes(self.root.dump()))
        return tuple(ders)

    def issue(self, csr_der: bytes, *, days: int = 365, profile: str = "personal",
              request_id: bytes | None = None, now: datetime | None = None) -> Issued:
        """An SM2 signature certificate for a request whose SM2 signature (ID ``request_id``) verifies."""
        if profile not in SM2_PROFILES:
            raise InvalidInput(f"unknown SM2 profile {profile!r}; known: {', '.join(SM2_PROFILES)}")
        info = _checked_request(csr_der, request_id or DEFAULT_ID)
        copied = _copied_extensions(info)
        extensions = [ext.key_usage(SIGNATURE_USAGE), ext.extended_key_usage(SM2_PROFILES[profile]), *copied]
        return self._leaf(info["subject"], info["subject_pk_info"].dump(), extensions, days, now)

    def issue_encryption(self, subject_der: bytes, spki_der: bytes, *, san: Sequence[x509.Extension] = (),
                         days: int = 365, now: datetime | None = None) -> Issued:
        """An SM2 encryption certificate for a public key the KMC made (no request: it cannot sign)."""
        if not is_sm2_spki(spki_der):
            raise InvalidInput("an SM2 encryption certificate needs an SM2 public key")
        extensions = [ext.key_usage(ENCRYPTION_USAGE), *san]
        return self._leaf(x509.Name.load(subject_der), spki_der, extensions, days, now)

    def issue_encryption_pair(self, signature_certificate: bytes, *, days: int = 365,
                              now: datetime | None = None) -> KmcDelivery:
        """The KMC stand-in: a new encryption key pair for the holder of ``signature_certificate``.

        The pair is escrowed (encrypted at rest under the KMC's SM4 key in ``kmc/``), certified
        with the holder's subject and SAN, and delivered as an envelope only the holder's
        signature key opens (GM/T 0009 SM2EnvelopedKey, what SKF_ImportECCKeyPair takes).
        """
        holder = x509.Certificate.load(signature_certificate)
        earlier = self._delivered(holder)
        if earlier is not None:
            return earlier
        key = Sm2PrivateKey.generate()
        san = [e for e in holder["tbs_certificate"]["extensions"] or [] if e["extn_id"].dotted == "2.5.29.17"]
        issued = self.issue_encryption(holder.subject.dump(), key.public_key().spki, san=san, days=days, now=now)
        enc_serial = x509.Certificate.load(issued.certificate).serial_number
        escrow = _escrow(self.directory, key, enc_serial)
        delivered = self.directory / KMC_DIR / DELIVERED_DIR
        delivered.mkdir(mode=0o700, exist_ok=True)
        _write_new(delivered / f"{holder.serial_number:x}", f"{enc_serial:x}\n".encode())
        envelope = EnvelopedKey.seal(key, Sm2PublicKey(holder.public_key.dump()))
        return KmcDelivery(issued.certificate, issued.chain, envelope.to_der(), escrow)

    def _delivered(self, holder: x509.Certificate) -> KmcDelivery | None:
        """The pair already made for this signature certificate, delivered again (the same key).

        A counter killed after the KMC answered asks again on its rerun: it gets the escrowed
        key in a fresh envelope, so one holder never leaves two escrowed keys behind.
        """
        index = self.directory / KMC_DIR / DELIVERED_DIR / f"{holder.serial_number:x}"
        if not index.exists():
            return None
        ref = f"{index.read_text(encoding='ascii').strip()}.sm4"
        key = recover_escrow(self.directory, ref)
        certificate = load_certificates((self.directory / ISSUED_DIR / f"{ref[:-4]}.pem").read_bytes())[0]
        if x509.Certificate.load(certificate).public_key.dump() != key.public_key().spki:
            raise InvalidInput(f"the KMC's escrow {ref} does not hold the key of its encryption certificate")
        envelope = EnvelopedKey.seal(key, Sm2PublicKey(holder.public_key.dump()))
        return KmcDelivery(certificate, self.chain, envelope.to_der(), ref)

    def _leaf(self, subject: x509.Name, spki_der: bytes, extensions: Sequence[x509.Extension], days: int,
              now: datetime | None) -> Issued:
        if days < 1:
            raise InvalidInput("a certificate must be valid for at least one day")
        start = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        # A leaf outliving its issuer would fail path validation on the last days.
        end = min(start + timedelta(days=days), self.issuer["tbs_certificate"]["validity"]["not_after"].native)
        head = [ext.basic_constraints(ca=False), *_key_ids(spki_der, self._signer.public_key_der())]
        serial = next_serial(self.directory)
        der = _certificate(self._signer, self.issuer.subject, subject, spki_der, (start - _BACKDATE, end),
                           [*head, *extensions], serial=serial)
        issued = self.directory / ISSUED_DIR
        issued.mkdir(mode=0o700, exist_ok=True)
        _write_new(issued / f"{serial:x}.pem", to_pem([der]))
        return Issued(der, self.chain)


@dataclass(frozen=True)
class KmcDelivery:
    """What the KMC hands back: the encryption certificate, its chain, the envelope, the escrow reference."""

    certificate: bytes
    chain: tuple[bytes, ...]
    envelope: bytes  # DER SM2EnvelopedKey
    escrow_ref: str  # the escrow file's name under kmc/escrow


def _escrow(directory: Path, key: Sm2PrivateKey, serial: int) -> str:
    """Keep the KMC's copy: PKCS#8 under SM4-CBC with the KMC key (created 0600 on first use)."""
    kmc = directory / KMC_DIR
    (kmc / "escrow").mkdir(mode=0o700, parents=True, exist_ok=True)
    master_file = kmc / KMC_KEY
    if not master_file.exists():
        _write_new(master_file, secrets.token_bytes(sm4.BLOCK), private=True)
    iv = secrets.token_bytes(sm4.BLOCK)
    ref = f"{serial:x}.sm4"
    sealed = iv + sm4.encrypt(master_file.read_bytes(), key.pkcs8(), iv=iv, pad=True)
    _write_new(kmc / "escrow" / ref, sealed, private=True)
    return ref


def recover_escrow(directory: str | os.PathLike[str], ref: str) -> Sm2PrivateKey:
    """The escrowed encryption key (key recovery for a holder who lost the USB-Key)."""
    kmc = Path(directory) / KMC_DIR
    sealed = (kmc / "escrow" / Path(ref).name).read_bytes()
    return Sm2PrivateKey.from_pkcs8(sm4.decrypt((kmc / KMC_KEY).read_bytes(), sealed[16:], iv=sealed[:16], pad=True))


def _store(path: Path, cert_file: str, key_file: str, cert: x509.Certificate, signer: Sm2SoftwareSigner) -> None:
    _write_new(path / key_file, pem.armor("PRIVATE KEY", signer.key.pkcs8()), private=True)
    _write_new(path / cert_file, to_pem([bytes(cert.dump())]))


def _read_cert(path: Path) -> x509.Certificate:
    return x509.Certificate.load(load_certificates(path.read_bytes())[0])


def _read_key(path: Path) -> Sm2PrivateKey:
    data = path.read_bytes()
    if pem.detect(data):
        data = pem.unarmor(data)[2]
    return Sm2PrivateKey.from_pkcs8(data)


def is_sm2_ca(directory: str | os.PathLike[str]) -> bool:
    """True when the local CA in ``directory`` has an SM2 root."""
    path = Path(directory) / ROOT_CERT
    if not path.exists():
        raise InvalidInput(f"{Path(directory)} holds no local CA (run init first)")
    return is_sm2_spki(_read_cert(path).public_key.dump())


def _checked_request(data: bytes, ident: bytes) -> csr.CertificationRequestInfo:
    if pem.detect(data):
        data = pem.unarmor(data)[2]
    try:
        request = csr.CertificationRequest.load(data, strict=True)
        info = request["certification_request_info"]
        info.native  # noqa: B018 - asn1crypto is lazy: malformed fields fail here
        spki = info["subject_pk_info"].dump()
        algorithm = request["signature_algorithm"]["algorithm"].dotted
        signature = request["signature"].native
    except Exception:  # asn1crypto raises assorted built-in errors on bad input: say what it is instead
        raise expected("a certificate request", data) from None
    if not is_sm2_spki(spki):
        raise InvalidInput("an SM2 CA issues for SM2 requests only")
    if algorithm != signature_algorithm(Mechanism.SM2_SM3)["algorithm"].dotted:
        raise InvalidInput(f"the SM2 request is signed with {algorithm}, not SM2-with-SM3")
    try:
        verify_any(spki, signature, info.dump(), Mechanism.SM2_SM3, ident)
    except SignatureInvalid:
        raise InvalidInput("the certificate request's signature does not verify "
                           f"(SM2 signer ID {ident.decode('utf-8', 'replace')!r})") from None
    if not len(info["subject"].chosen):
        raise InvalidInput("the certificate request has an empty subject")
    return info


def _copied_extensions(info: csr.CertificationRequestInfo) -> list[x509.Extension]:
    """The SAN and identity-number extensions a request carries (as the RSA/EC CA copies them)."""
    out = []
    for attribute in info["attributes"]:
        if attribute["type"].native != "extension_request":
            continue
        for extension in attribute["values"][0]:
            oid = extension["extn_id"].dotted
            if oid == "2.5.29.17" or oid in IDENTITY_OIDS or oid.startswith(IDENTITY_OID_PREFIXES):
                out.append(extension)
    return out
