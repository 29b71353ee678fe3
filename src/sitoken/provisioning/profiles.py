"""Certificate profiles: subject DN templates, identity extensions, key type and validity, as data."""

from __future__ import annotations

import importlib
import json
import os
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..certs import CustomExtension, text_extension
from ..errors import InvalidInput, NotSupported
from ..token import KeyType
from .applicant import OrganisationApplicant, PersonalApplicant, ValidatedApplicant

__all__ = [
    "TEMPLATE_FIELDS",
    "CertProfile",
    "IdentityExtension",
    "ProfileSet",
    "load_profiles",
    "template_fields",
]

#: The values a template may use, filled from a validated applicant.
TEMPLATE_FIELDS = ("name", "id_number", "credit_code", "card_number", "agent_name", "agent_id_number")
KINDS = ("personal", "organisation")
# DOMAIN.md §9 and §5.6: certificates are issued for 1-3 years.
MIN_DAYS, MAX_DAYS = 365, 3 * 366
PROFILE_FILES = ("profiles.json", "profiles.toml")
_DN_SPECIAL = '"+,;<>\\'


@dataclass(frozen=True)
class IdentityExtension:
    """A request extension carrying an identity number as a UTF8String (DOMAIN.md §5.2)."""

    oid: str
    value: str  # a template
    critical: bool = False


@dataclass(frozen=True)
class CertProfile:
    """How one kind of certificate is requested: subject, extensions, key type, validity."""

    name: str
    kind: str
    key_type: KeyType
    validity_days: int
    subject: tuple[tuple[str, str], ...]  # (attribute keyword, template), most specific first
    extensions: tuple[IdentityExtension, ...] = ()
    key_usage: tuple[str, ...] = ("digital_signature", "non_repudiation")
    extended_key_usage: tuple[str, ...] = ()
    ca_profile: str = "personal"
    # Every key type the CA accepts for this profile, preferred first (``key_type`` is the first).
    key_types: tuple[KeyType, ...] = ()
    # Dual SM2 certificates: the key usage of the encryption certificate, whose key pair the CA's
    # KMC makes and delivers in an envelope. Empty: one (signature) certificate.
    encryption_key_usage: tuple[str, ...] = ()

    @property
    def dual(self) -> bool:
        """True when the holder gets a signature and an encryption certificate (GM/T 0015 practice)."""
        return bool(self.encryption_key_usage)

    @property
    def acceptable_key_types(self) -> tuple[KeyType, ...]:
        return self.key_types or (self.key_type,)

    def key_type_for(self, supported: Sequence[KeyType]) -> KeyType:
        """The first acceptable key type the token can generate; NotSupported when there is none."""
        for key_type in self.acceptable_key_types:
            if key_type in supported:
                return key_type
        raise NotSupported(
            f"profile {self.name!r} accepts {', '.join(k.value for k in self.acceptable_key_types)} keys; "
            f"this token generates {', '.join(k.value for k in supported) or 'none'}")

    def subject_for(self, values: Mapping[str, str]) -> str:
        """The RFC 4514 subject for an applicant; attributes whose template fills to nothing are left out."""
        parts = []
        for keyword, template in self.subject:
            text = template.format_map(values).strip()
            if text:
                parts.append(f"{keyword}={_escape(text)}")
        if not parts:
            raise InvalidInput(f"profile {self.name!r}: the subject is empty for this applicant")
        return ",".join(parts)

    def extensions_for(self, values: Mapping[str, str]) -> list[CustomExtension]:
        out = []
        for ext in self.extensions:
            text = ext.value.format_map(values).strip()
            if text:
                out.append(text_extension(ext.oid, text, critical=ext.critical))
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name, "kind": self.kind, "key_type": self.key_type.value,
            "key_types": [k.value for k in self.acceptable_key_types],
            "validity_days": self.validity_days, "subject": [list(p) for p in self.subject],
            "extensions": [{"oid": e.oid, "value": e.value, "critical": e.critical} for e in self.extensions],
            "key_usage": list(self.key_usage), "extended_key_usage": list(self.extended_key_usage),
            "ca_profile": self.ca_profile, "encryption_key_usage": list(self.encryption_key_usage),
        }


@dataclass(frozen=True)
class ProfileSet:
    """The profiles of one CA, by name; ``for_kind`` picks the one for an applicant."""

    ca: str
    profiles: Mapping[str, CertProfile] = field(default_factory=dict)
    source: str = "packaged default"

    def for_kind(self, kind: str) -> CertProfile:
        matches = [p for p in self.profiles.values() if p.kind == kind]
        if kind in self.profiles and self.profiles[kind].kind == kind:
            return self.profiles[kind]
        if not matches:
            raise InvalidInput(f"the profiles of {self.ca!r} ({self.source}) have none for {kind} certificates")
        return matches[0]

    def to_dict(self) -> dict[str, object]:
        return {"ca": self.ca, "source": self.source, "profiles": {k: p.to_dict() for k, p in self.profiles.items()}}


def _escape(value: str) -> str:
    """RFC 4514 escaping of one attribute value, so a name with a comma stays one value."""
    out = []
    for i, ch in enumerate(value):
        if ch in _DN_SPECIAL or (ch == "#" and i == 0) or (ch == " " and i in (0, len(value) - 1)):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def template_fields(validated: ValidatedApplicant) -> dict[str, str]:
    """The template values of a validated (normalised) applicant; absent ones are empty."""
    applicant = validated.applicant
    values = dict.fromkeys(TEMPLATE_FIELDS, "")
    values["name"] = applicant.name
    if isinstance(applicant, PersonalApplicant):
        values["id_number"] = applicant.id_number
        values["card_number"] = applicant.card_number or ""
    elif isinstance(applicant, OrganisationApplicant):
        values["credit_code"] = applicant.credit_code
    if applicant.agent is not None:
        values["agent_name"] = applicant.agent.name
        values["agent_id_number"] = applicant.agent.id_number
    return values


# --- loading -----------------------------------------------------------------------------


def load_profiles(source: str | os.PathLike[str] | None = None, *, ca_directory: str | os.PathLike[str] | None = None
                  ) -> ProfileSet:
    """Profiles from a JSON or TOML file; else from the CA directory's profiles file; else the packaged default."""
    if source is not None:
        return _from_file(Path(source))
    if ca_directory is not None:
        for name in PROFILE_FILES:
            candidate = Path(ca_directory) / name
            if candidate.exists():
                return _from_file(candidate)
    text = resources.files(__package__).joinpath("profiles").joinpath("default.json").read_text(encoding="utf-8")
    return parse_profiles(json.loads(text), "packaged default")


def _from_file(path: Path) -> ProfileSet:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read the profiles file {path}: {exc.strerror}") from None
    try:
        if path.suffix.lower() == ".toml":
            tomllib = importlib.import_module("tomllib")  # Python 3.11+
            data = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw.decode("utf-8"))
    except ImportError:
        raise InvalidInput("TOML profiles need Python 3.11 or later; use the JSON form") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the profiles file {path} is not valid: {exc}") from None
    return parse_profiles(data, str(path))


def parse_profiles(data: object, source: str) -> ProfileSet:
    """A ProfileSet from parsed JSON/TOML; every problem names the profile and the key."""
    if not isinstance(data, Mapping) or not isinstance(data.get("profiles"), Mapping):
        raise InvalidInput(f"{source}: expected an object with a 'profiles' table")
    profiles = {str(name): _profile(str(name), body, source) for name, body in data["profiles"].items()}
    missing = [k for k in KINDS if not any(p.kind == k for p in profiles.values())]
    if missing:
        raise InvalidInput(f"{source}: no profile for {', '.join(missing)} certificates")
    return ProfileSet(str(data.get("ca", source)), profiles, source)


def _profile(name: str, body: Any, source: str) -> CertProfile:
    where = f"{source}: profile {name!r}"
    if not isinstance(body, Mapping):
        raise InvalidInput(f"{where} must be a table")
    kind = body.get("kind", name)
    if kind not in KINDS:
        raise InvalidInput(f"{where}: kind must be personal or organisation")
    key_types = _key_types(body, where)
    days = body.get("validity_days", MIN_DAYS)
    if not isinstance(days, int) or not MIN_DAYS <= days <= MAX_DAYS:
        raise InvalidInput(f"{where}: validity_days must be {MIN_DAYS}-{MAX_DAYS} (1-3 years)")
    subject = tuple((str(k), _template(str(v), where)) for k, v in _pairs(body.get("subject"), where))
    extensions = tuple(_extension(e, where) for e in body.get("extensions", ()))
    return CertProfile(
        name=name, kind=kind, key_type=key_types[0], key_types=key_types, validity_days=days, subject=subject,
        extensions=extensions,
        key_usage=tuple(body.get("key_usage", ("digital_signature", "non_repudiation"))),
        extended_key_usage=tuple(body.get("extended_key_usage", ())),
        ca_profile=str(body.get("ca_profile", kind)),
        encryption_key_usage=_encryption_usage(body, key_types, where),
    )


def _encryption_usage(body: Mapping[str, Any], key_types: tuple[KeyType, ...], where: str) -> tuple[str, ...]:
    """Only SM2 keys come with a KMC's encryption certificate (SKF containers hold both pairs)."""
    usage = body.get("encryption_key_usage", ())
    if not isinstance(usage, Sequence) or isinstance(usage, str):
        raise InvalidInput(f"{where}: encryption_key_usage must be a list of key usages")
    if usage and key_types != (KeyType.SM2,):
        raise InvalidInput(f"{where}: dual certificates (encryption_key_usage) need key_type sm2 alone")
    return tuple(str(u) for u in usage)


def _key_types(body: Mapping[str, Any], where: str) -> tuple[KeyType, ...]:
    """``key_type`` (preferred) then ``key_types`` (every acceptable one, in order), without repeats."""
    more = body.get("key_types", [])
    if not isinstance(more, Sequence) or isinstance(more, str):
        raise InvalidInput(f"{where}: key_types must be a list of key types")
    names = [body["key_type"]] if "key_type" in body else []
    names += list(more) or ([] if names else ["ec-p256"])
    out: list[KeyType] = []
    for value in names:
        try:
            key_type = KeyType(value)
        except ValueError:
            raise InvalidInput(f"{where}: unknown key type {value!r}; known: "
                               f"{', '.join(k.value for k in KeyType)}") from None
        if key_type not in out:
            out.append(key_type)
    return tuple(out)


def _pairs(value: object, where: str) -> Sequence[Sequence[object]]:
    if not isinstance(value, Sequence) or not value or not all(
            isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 2 for p in value):
        raise InvalidInput(f"{where}: subject must be a non-empty list of [attribute, template] pairs")
    return value


def _extension(value: object, where: str) -> IdentityExtension:
    if not isinstance(value, Mapping) or "oid" not in value or "value" not in value:
        raise InvalidInput(f"{where}: each extension needs an oid and a value template")
    oid = str(value["oid"])
    if not all(part.isdigit() for part in oid.split(".")) or oid.count(".") < 1:
        raise InvalidInput(f"{where}: extension oid {oid!r} is not a dotted OID")
    return IdentityExtension(oid, _template(str(value["value"]), where), bool(value.get("critical", False)))


def _template(text: str, where: str) -> str:
    """Refuse unknown template fields at load time, not halfway through a batch."""
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise InvalidInput(f"{where}: template {text!r}: {exc}") from None
    unknown = [n for n in names if n not in TEMPLATE_FIELDS]
    if unknown:
        raise InvalidInput(f"{where}: unknown template field {unknown[0]!r}; known: {', '.join(TEMPLATE_FIELDS)}")
    return text
