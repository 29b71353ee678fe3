"""The backend-neutral Token interface and the dataclasses it returns."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

from .algorithms import KeyType, Mechanism, mechanisms_for
from .errors import NotSupported
from .pin import Pin, PinPolicy, PinRole, PinStatus


@dataclass(frozen=True)
class Capabilities:
    """What a driver and its token can do, declared up front instead of failing late."""

    can_init_token: bool
    exact_retries: bool
    can_unblock: bool
    key_types: tuple[KeyType, ...]
    mechanisms: tuple[Mechanism, ...]
    can_delete_keys: bool = True
    # OpenPGP cards (and OpenSC over them) generate keys and write certificates under the
    # admin PIN, not the user PIN.
    keygen_needs_so_pin: bool = False
    # Can a private key made elsewhere (a PKCS#12 file) be written to it? Cards generate their own.
    can_import_keys: bool = False
    # A card with one certificate slot per key cannot keep the CA certificates of a chain.
    stores_ca_certificates: bool = True
    # Tokens whose keys live in fixed slots name the one a holder's signature key goes to, as
    # (label, id in hex): an OpenPGP card's ("sig", "01"). None: the caller picks label and CKA_ID.
    signature_key_slot: tuple[str, str] | None = None
    # SKF names a key by its container: the id is the label's bytes, never one the caller picks.
    key_id_is_label: bool = False
    # Can it take an encryption key pair a KMC delivers in an envelope (SKF_ImportECCKeyPair)?
    imports_enveloped_keys: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "can_init_token": self.can_init_token,
            "exact_retries": self.exact_retries,
            "can_unblock": self.can_unblock,
            "can_delete_keys": self.can_delete_keys,
            "keygen_needs_so_pin": self.keygen_needs_so_pin,
            "stores_ca_certificates": self.stores_ca_certificates,
            "signature_key_slot": list(self.signature_key_slot) if self.signature_key_slot else None,
            "key_id_is_label": self.key_id_is_label,
            "imports_enveloped_keys": self.imports_enveloped_keys,
            "key_types": [k.value for k in self.key_types],
            "mechanisms": [m.value for m in self.mechanisms],
        }


@dataclass(frozen=True)
class StoredCertificate:
    """A certificate object as the token holds it."""

    label: str
    id: str  # CKA_ID (or card key reference) as hex: the same as its key pair's for a holder's certificate
    der: bytes
    authority: bool


@dataclass(frozen=True)
class MisplacedCertificate:
    """A holder's certificate kept where other programs look for another key's (an older sitoken's doing)."""

    der: bytes
    stored_under: str  # the key whose certificate place it occupies, e.g. a card's "aut"
    belongs_to: str  # the key whose public key it carries, e.g. "sig"

    def to_dict(self) -> dict[str, object]:
        import hashlib  # here: `import sitoken` stays free of OpenSSL (tests/cli/test_cli_contract.py)

        return {"stored_under": self.stored_under, "belongs_to": self.belongs_to,
                "sha256": hashlib.sha256(self.der).hexdigest()}


@dataclass(frozen=True)
class TokenInfo:
    """One token as discovery reports it."""

    label: str
    serial: str
    manufacturer: str
    model: str
    driver: str
    uri: str
    initialized: bool
    login_required: bool
    pin: PinStatus
    so_pin: PinStatus
    flags: tuple[str, ...] = ()
    slot: str = ""

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["pin"] = self.pin.to_dict()
        out["so_pin"] = self.so_pin.to_dict()
        out["flags"] = list(self.flags)
        return out


@dataclass(frozen=True)
class KeyInfo:
    """A key pair (or half of one) on a token."""

    label: str
    id: str  # CKA_ID (or card key reference) as lower-case hex
    key_type: KeyType | None
    has_private: bool
    has_public: bool
    extra: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "id": self.id,
            "type": self.key_type.value if self.key_type else None,
            "private": self.has_private,
            "public": self.has_public,
            **self.extra,
        }


class Token(abc.ABC):
    """One token (a SoftHSM token, a vendor USB-Key, a card in a reader), whatever the driver.

    A Token object is bound to one token. Operations that need the user PIN
    take it as an argument or use the session opened by :meth:`login`.
    Every PIN that will become a token's new PIN is checked against the
    policy before any call reaches the token.
    """

    policy: PinPolicy
    #: The signer ID that SM2 signatures bind through Z; None means GM/T 0009's default
    #: (1234567812345678). Signer and verifier must use the same one.
    sm2_id: bytes | None = None

    @abc.abstractmethod
    def info(self) -> TokenInfo: ...

    @property
    @abc.abstractmethod
    def capabilities(self) -> Capabilities: ...

    def pin_status(self, role: PinRole = PinRole.USER) -> PinStatus:
        info = self.info()
        return info.pin if role is PinRole.USER else info.so_pin

    # -- PIN lifecycle ---------------------------------------------------------

    @abc.abstractmethod
    def login(self, pin: Pin, *, force: bool = False) -> None:
        """Log the holder in; refuses on the final try unless ``force``."""

    def login_admin(self, so_pin: Pin, *, force: bool = False) -> None:
        """Log the administrator in, for drivers whose key generation needs the SO PIN.

        See ``capabilities.keygen_needs_so_pin``; refuses on the final try unless ``force``.
        """
        raise NotSupported("this token has no administrator login for key operations")

    @abc.abstractmethod
    def logout(self) -> None: ...

    @abc.abstractmethod
    def init_token(self, so_pin: Pin, label: str, *, force: bool = False) -> None:
        """Erase the token and give it a label and an SO PIN."""

    @abc.abstractmethod
    def init_pin(self, so_pin: Pin, new_pin: Pin) -> None:
        """Set the user PIN for the first time (administrator)."""

    @abc.abstractmethod
    def change_pin(self, old_pin: Pin, new_pin: Pin, *, force: bool = False) -> None: ...

    @abc.abstractmethod
    def reset_pin(self, so_pin: Pin, new_pin: Pin, *, force: bool = False) -> None:
        """Administrator reset (unblock) of the user PIN with the SO PIN."""

    @abc.abstractmethod
    def change_so_pin(self, old_so_pin: Pin, new_so_pin: Pin, *, force: bool = False) -> None: ...

    # -- keys --------------------------------------------------------------------

    @abc.abstractmethod
    def generate_key(self, key_type: KeyType, label: str, key_id: bytes | None = None) -> KeyInfo: ...

    def import_key_pair(self, pkcs8_der: bytes, label: str, key_id: bytes | None = None) -> KeyInfo:
        """Write a private key from outside (PKCS#8 DER) and its public key; see ``can_import_keys``."""
        raise NotSupported("this token cannot take a private key from outside: its keys are generated on it")

    def import_enveloped_key(self, selector: str, envelope_der: bytes) -> KeyInfo:
        """A KMC's encryption key pair (GM/T 0009 SM2EnvelopedKey, DER) into the container of the
        signature key ``selector``, which opens it; see ``imports_enveloped_keys``."""
        raise NotSupported("this token takes no KMC envelope: dual SM2 certificates need an SKF USB-Key")

    def decrypt_sm2(self, selector: str, ciphertext_der: bytes) -> bytes:
        """SM2-decrypt a GM/T 0009 DER ciphertext with the encryption key ``selector``."""
        raise NotSupported("this token does not decrypt SM2: its encryption keys live in SKF containers")

    @abc.abstractmethod
    def keys(self) -> list[KeyInfo]: ...

    @abc.abstractmethod
    def find_key(self, selector: str) -> KeyInfo:
        """A key by label, or by CKA_ID written as ``id:HEX``."""

    @abc.abstractmethod
    def delete_key(self, selector: str) -> KeyInfo: ...

    @abc.abstractmethod
    def public_key_der(self, selector: str) -> bytes:
        """The public key as a DER SubjectPublicKeyInfo."""

    # -- signing -----------------------------------------------------------------

    @abc.abstractmethod
    def sign(self, selector: str, data: bytes, mechanism: Mechanism | None = None) -> bytes:
        """Sign ``data``; ECDSA signatures come back DER-encoded."""

    def sign_digest(self, selector: str, digest: bytes, mechanism: Mechanism | None = None) -> bytes:
        """Sign a digest computed elsewhere with ``mechanism``'s hash (a portal's document hash).

        Only schemes that sign a hash can (RSA, ECDSA); a driver that cannot says so.
        """
        raise NotSupported(f"{type(self).__name__} does not sign digests computed elsewhere")

    def sign_many(
        self, selector: str, records: Iterable[bytes], mechanism: Mechanism | None = None
    ) -> Iterator[bytes]:
        """Sign each record in order with one key (the Python batch path; a driver may do better)."""
        for record in records:
            yield self.sign(selector, record, mechanism)

    @abc.abstractmethod
    def verify(
        self, selector: str, data: bytes, signature: bytes, mechanism: Mechanism | None = None
    ) -> bool:
        """Verify on the token (with the token's public key object)."""

    # -- certificates --------------------------------------------------------------

    def certificates(self) -> list[StoredCertificate]:
        """Certificate objects on the token (drivers that cannot store any say so)."""
        raise NotSupported("this token's driver cannot store certificates")

    def import_certificate(self, der: bytes, *, label: str = "", key_id: bytes = b"", authority: bool = False) -> None:
        """Store a DER certificate; a holder's certificate shares its key pair's id."""
        raise NotSupported("this token's driver cannot store certificates")

    def delete_certificates(self, *, label: str | None = None, key_id: bytes | None = None) -> int:
        """Delete matching certificates; returns how many went."""
        raise NotSupported("this token's driver cannot store certificates")

    def misplaced_certificates(self) -> list[MisplacedCertificate]:
        """Holder certificates this token keeps under another key's place (none by default)."""
        return []

    def move_misplaced_certificates(self) -> list[MisplacedCertificate]:
        """Move each to its own key's place (needs the login certificate writes need); returns what moved."""
        return []

    def remove_incomplete_objects(self) -> int:
        """Delete objects a killed process left half-made; returns how many (none by default)."""
        return 0

    def close(self) -> None:  # noqa: B027 - drivers without resources keep the no-op
        """Release sessions; idempotent."""

    def __enter__(self) -> Token:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "Capabilities", "KeyInfo", "KeyType", "Mechanism", "MisplacedCertificate", "StoredCertificate", "Token",
    "TokenInfo",
    "mechanisms_for",
]
