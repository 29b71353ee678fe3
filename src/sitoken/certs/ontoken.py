"""Certificates on a token: sign requests with token keys, install chains, list, export, status."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from ..errors import InvalidInput, KeyNotFound, NotSupported
from ..token import KeyInfo, KeyType, Mechanism, StoredCertificate, Token
from .info import CertInfo, cert_info
from .parse import (
    canonical_spki,
    leaf_of,
    load_certificates,
    order_chain,
    parse_certificate,
    public_key_matches,
)

RENEWAL_WINDOW_DAYS = 30


class TokenSigner:
    """A KeySigner whose private key stays on the token."""

    def __init__(self, token: Token, selector: str) -> None:
        info = token.find_key(selector)
        if info.key_type is None:
            raise NotSupported(f"key {selector!r} has a type sitoken cannot sign with")
        self.token, self.selector, self._key_type = token, selector, info.key_type

    @property
    def key_type(self) -> KeyType:
        return self._key_type

    @property
    def sm2_id(self) -> bytes | None:
        return self.token.sm2_id

    def public_key_der(self) -> bytes:
        return self.token.public_key_der(self.selector)

    def sign(self, data: bytes, mechanism: Mechanism) -> bytes:
        return self.token.sign(self.selector, data, mechanism)


@dataclass(frozen=True)
class TokenCertificate:
    """A certificate on a token, with its status and the key pair it belongs to."""

    label: str
    id: str
    authority: bool
    key: str | None  # label of the key pair whose public key it certifies, if on the token
    der: bytes
    info: CertInfo

    def to_dict(self) -> dict[str, object]:
        return {"label": self.label, "id": self.id, "authority": self.authority, "key": self.key,
                **self.info.to_dict()}


@dataclass(frozen=True)
class Installed:
    """What an import wrote: the holder's certificate and the CA certificates added."""

    certificate: TokenCertificate
    added_chain: tuple[str, ...]  # subjects of CA certificates stored by this import
    already_present: bool = False  # the holder's certificate was on the token before; only its chain was added

    def to_dict(self) -> dict[str, object]:
        return {"certificate": self.certificate.to_dict(), "added_chain": list(self.added_chain),
                "already_present": self.already_present}


def _key_selector(info: KeyInfo) -> str:
    return f"id:{info.id}" if info.id else info.label


def _public_keys(token: Token, keys: Sequence[KeyInfo]) -> list[tuple[KeyInfo, bytes | None]]:
    """Each key with its canonical public key, None where the token holds none for it."""
    out: list[tuple[KeyInfo, bytes | None]] = []
    for info in keys:
        try:
            out.append((info, canonical_spki(token.public_key_der(_key_selector(info)))))
        except (KeyNotFound, InvalidInput, ValueError):  # no public half, or one not parseable
            out.append((info, None))
    return out


def _owner(cert_der: bytes, stored_id: str, keys: Sequence[tuple[KeyInfo, bytes | None]]) -> KeyInfo | None:
    """The key a certificate certifies: by public key; CKA_ID only for keys without one.

    Other tools write certificates without CKA_ID, or under another key's ID, so the ID
    is a hint; the public key is the rule.
    """
    try:
        spki = canonical_spki(parse_certificate(cert_der).spki_der)
    except InvalidInput:
        return None
    by_key = next((info for info, key in keys if key == spki), None)
    if by_key is not None:
        return by_key
    return next((info for info, key in keys if key is None and stored_id and info.id == stored_id), None)


def is_authority(cert: StoredCertificate) -> bool:
    """A CA certificate: marked so on the token, or (written by other tools) by basicConstraints."""
    if cert.authority:
        return True
    try:
        return parse_certificate(cert.der).is_ca
    except InvalidInput:
        return False


def key_for_certificate(token: Token, leaf: bytes, key: str | None = None) -> KeyInfo:
    """The key pair whose public key the certificate certifies; refuses a certificate for another key."""
    candidates = [token.find_key(key)] if key else [k for k in token.keys() if k.has_public or k.has_private]
    for info in candidates:
        try:
            spki = token.public_key_der(_key_selector(info))
        except KeyNotFound:
            continue
        if public_key_matches(leaf, spki):
            return info
    if key:
        raise InvalidInput(f"the certificate is for another key: its public key is not the one of {key!r}")
    raise KeyNotFound("no key on the token matches the certificate's public key")


def _check_installable(leaf: bytes, chain: Sequence[bytes], others: Sequence[bytes], now: datetime) -> None:
    if len(chain) - 1 != len(others):
        raise InvalidInput("broken chain: some certificates in the file do not certify the leaf or each other")
    info = cert_info(leaf, now=now, chain=chain[1:])
    if info.expired:
        raise InvalidInput(f"the certificate expired on {info.not_after:%Y-%m-%d}")
    if info.is_ca:
        raise InvalidInput("the end certificate is a CA certificate; import the holder's certificate")


def install_certificates(
    token: Token, data: bytes, *, key: str | None = None, label: str | None = None, now: datetime | None = None
) -> Installed:
    """Install a holder's certificate (and its chain) next to its key pair.

    Everything is checked before anything is written, so bad input (garbage,
    a certificate for another key, an expired one, a broken chain) leaves the
    token unchanged.
    """
    now = now or datetime.now(timezone.utc)
    ders = load_certificates(data)
    leaf = leaf_of(ders)
    others = [d for d in ders if d != leaf]
    chain = order_chain(leaf, others)
    _check_installable(leaf, chain, others, now)
    owner = key_for_certificate(token, leaf, key)
    present = {c.der for c in token.certificates()}
    missing = [ca for ca in chain[1:] if ca not in present] if token.capabilities.stores_ca_certificates else []
    already = leaf in present
    if already and not missing:
        raise InvalidInput("this certificate is already on the token, and so is every CA certificate in the file")
    added = []
    for ca in missing:
        # A holder's certificate imported alone gets its chain later this way (CMS needs it to the root).
        subject = cert_info(ca, now=now).subject
        token.import_certificate(ca, label=_ca_label(subject), key_id=_ca_id(ca), authority=True)
        added.append(subject)
    if not already:
        token.import_certificate(leaf, label=label or owner.label, key_id=bytes.fromhex(owner.id), authority=False)
    return Installed(_installed(token, leaf, owner, now), tuple(added), already)


def _installed(token: Token, leaf: bytes, owner: KeyInfo, now: datetime) -> TokenCertificate:
    """The leaf as stored, with its status: only it is read back, not the whole token's listing.

    Its key is the one ``key_for_certificate`` matched by public key, as a listing would find.
    """
    stored = token.certificates()
    mine = next(c for c in stored if c.der == leaf)
    authorities = [c.der for c in stored if is_authority(c)]
    info = cert_info(leaf, now=now, chain=order_chain(leaf, authorities)[1:])
    authority = mine.authority or info.is_ca
    return TokenCertificate(mine.label, mine.id, authority, None if authority else owner.label, leaf, info)


def _ca_label(subject: str) -> str:
    # A PKCS#11 label is UTF-8; keep it short enough for tools that show 32 bytes.
    cn = next((part[3:] for part in subject.split(",") if part.startswith("CN=")), subject)
    return cn[:64]


def _ca_id(der: bytes) -> bytes:
    """CA certificates have no key on the token; they get an id from their public key."""
    return hashlib.sha1(parse_certificate(der).spki_der, usedforsecurity=False).digest()


def token_certificates(
    token: Token, *, now: datetime | None = None, renew_window_days: int = RENEWAL_WINDOW_DAYS
) -> list[TokenCertificate]:
    """Every certificate on the token, with expiry state, chain completeness and its key pair."""
    return [cert for cert, _ in _with_owners(token, now, renew_window_days)]


def _with_owners(
    token: Token, now: datetime | None, renew_window_days: int
) -> list[tuple[TokenCertificate, KeyInfo | None]]:
    stored = token.certificates()
    authorities = [c.der for c in stored if is_authority(c)]
    keys = _public_keys(token, token.keys())
    out = []
    for cert in stored:
        try:
            chain = order_chain(cert.der, authorities)[1:]
            info = cert_info(cert.der, now=now, renew_window_days=renew_window_days, chain=chain)
        except InvalidInput:
            # A half-written object (a process killed mid-import) is not a certificate:
            # skip it here; Token.remove_incomplete_objects() clears it.
            continue
        authority = cert.authority or info.is_ca
        owner = None if authority else _owner(cert.der, cert.id, keys)
        out.append((TokenCertificate(cert.label, cert.id, authority, owner.label if owner else None,
                                     cert.der, info), owner))
    return out


def certificate_for_key(token: Token, key: str, *, now: datetime | None = None) -> TokenCertificate:
    """The holder's certificate that belongs to a key pair (the newest, if several)."""
    info = token.find_key(key)
    mine = [cert for cert, owner in _with_owners(token, now, RENEWAL_WINDOW_DAYS) if owner == info]
    if not mine:
        raise KeyNotFound(f"no certificate on the token for key {key!r}")
    return max(mine, key=lambda c: c.info.not_after)


def chain_for(token: Token, certificate: TokenCertificate) -> list[bytes]:
    """The certificate followed by its issuers, as far as the token holds them."""
    authorities = [c.der for c in token.certificates() if is_authority(c)]
    return order_chain(certificate.der, authorities)
