"""Personal and organisation applicants: records, validation, loading from JSON, CSV or dicts."""

from __future__ import annotations

import csv
import io
import json
import os
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import ClassVar, Literal, ParamSpec, TypeAlias, TypeVar

from ..errors import InvalidInput
from .identifiers import (
    ApplicantInvalid,
    ResidentId,
    Uscc,
    age_on,
    check_card_number,
    normalise_mobile,
    parse_resident_id,
    parse_uscc,
)

__all__ = [
    "CSV_COLUMNS",
    "MIN_AGE",
    "Agent",
    "Applicant",
    "ApplicantInvalid",
    "BatchInvalid",
    "OrganisationApplicant",
    "PersonalApplicant",
    "RowResult",
    "ValidatedApplicant",
    "applicant_from_dict",
    "load_applicants",
    "validate",
    "validate_all",
]

# The social-insurance certificate's eligibility age (DOMAIN.md §0.7; a product rule, §9).
MIN_AGE = 16
# Names go into the certificate subject as CN or O; RFC 5280 bounds both at 64 characters.
NAME_MAX = 64
REFERENCE_MAX = 128


@dataclass(frozen=True)
class Agent:
    """Someone acting for the applicant; ``authorisation_ref`` points at the signed letter."""

    name: str
    id_number: str
    authorisation_ref: str


@dataclass(frozen=True)
class PersonalApplicant:
    """A person applying for a personal certificate, possibly through an agent."""

    kind: ClassVar[str] = "personal"
    name: str
    id_number: str
    mobile: str
    card_number: str | None = None
    agent: Agent | None = None


@dataclass(frozen=True)
class OrganisationApplicant:
    """An organisation (单位) applying through an agent with a letter of authorisation."""

    kind: ClassVar[str] = "organisation"
    name: str
    credit_code: str
    agent: Agent

    @property
    def authorisation_ref(self) -> str:
        # One letter authorises the agent; keeping it once means two copies cannot disagree.
        return self.agent.authorisation_ref


Applicant: TypeAlias = PersonalApplicant | OrganisationApplicant
Source: TypeAlias = str | bytes | os.PathLike[str]


@dataclass(frozen=True)
class ValidatedApplicant:
    """An applicant that passed every check, with its values normalised.

    ``holder_id`` and ``age`` are set for a personal applicant, ``credit_code`` for an
    organisation, ``agent_id`` when there is an agent. ``warnings`` are checks that
    failed without rejecting (see ``Uscc.warnings``), each prefixed with its field.
    """

    applicant: Applicant
    on: date
    holder_id: ResidentId | None = None
    age: int | None = None
    credit_code: Uscc | None = None
    agent_id: ResidentId | None = None
    warnings: tuple[str, ...] = ()


class BatchInvalid(InvalidInput):
    """A file or batch could not be read; ``errors`` lists every problem found."""

    code = "batch-invalid"

    def __init__(self, errors: Sequence[ApplicantInvalid]) -> None:
        self.errors = tuple(errors)
        shown = "; ".join(str(error) for error in self.errors[:5])
        more = f"; and {len(self.errors) - 5} more" if len(self.errors) > 5 else ""
        super().__init__(f"{len(self.errors)} problem(s): {shown}{more}")

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "errors": [error.to_dict() for error in self.errors]}


@dataclass(frozen=True)
class RowResult:
    """The outcome for one row of a batch: the record as read, and all its problems."""

    row: int
    applicant: Applicant | None
    validated: ValidatedApplicant | None
    errors: tuple[ApplicantInvalid, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.validated.warnings if self.validated else ()

    def to_dict(self) -> dict[str, object]:
        """JSON-ready; carries field names and reasons, never the applicant's data."""
        return {
            "row": self.row,
            "ok": self.ok,
            "kind": self.applicant.kind if self.applicant else None,
            "errors": [error.to_dict() for error in self.errors],
            "warnings": list(self.warnings),
        }


# --- validation -------------------------------------------------------------------------

P = ParamSpec("P")
T = TypeVar("T")


class _Findings:
    """Collects every failed check instead of stopping at the first one."""

    def __init__(self) -> None:
        self.errors: list[ApplicantInvalid] = []
        self.warnings: list[str] = []

    def run(self, check: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | None:
        try:
            return check(*args, **kwargs)
        except ApplicantInvalid as error:
            self.errors.append(error)
            return None


def validate(
    applicant: Applicant,
    *,
    on: date,
    min_age: int = MIN_AGE,
    allow_foreign: bool = False,
) -> ValidatedApplicant:
    """Check every field of ``applicant`` and the age rule on the application date ``on``.

    Raises ``ApplicantInvalid`` for the first problem in field order; ``validate_all``
    reports all of them. ``allow_foreign`` accepts foreign permanent-resident numbers,
    whose age cannot be read from the number: a warning says so.
    """
    validated, errors = _check(applicant, on, min_age, allow_foreign)
    if validated is None:
        raise errors[0]
    return validated


def _check(
    applicant: object, on: date, min_age: int, allow_foreign: bool
) -> tuple[ValidatedApplicant | None, list[ApplicantInvalid]]:
    found = _Findings()
    if isinstance(applicant, PersonalApplicant):
        validated = _check_personal(applicant, on, min_age, allow_foreign, found)
    elif isinstance(applicant, OrganisationApplicant):
        validated = _check_organisation(applicant, on, min_age, allow_foreign, found)
    else:
        found.errors.append(ApplicantInvalid("kind", "type", "not an applicant record"))
        validated = None
    return (None if found.errors else validated), found.errors


def _check_personal(
    applicant: PersonalApplicant, on: date, min_age: int, allow_foreign: bool, found: _Findings
) -> ValidatedApplicant:
    name = found.run(_check_text, applicant.name, "name", NAME_MAX)
    holder = found.run(
        parse_resident_id, applicant.id_number, today=on, allow_foreign=allow_foreign
    )
    age = _check_age(holder, on, min_age, "id_number", found)
    mobile = found.run(normalise_mobile, applicant.mobile)
    card = None
    if _given(applicant.card_number):
        card = found.run(check_card_number, applicant.card_number)
    agent, agent_id = None, None
    if applicant.agent is not None:
        agent, agent_id = _check_agent(applicant.agent, on, min_age, allow_foreign, found)
    if holder and agent_id and holder.number == agent_id.number:
        found.errors.append(
            ApplicantInvalid("agent.id_number", "same-person", "is the applicant's own number")
        )
    normalised = PersonalApplicant(
        name or "", holder.number if holder else "", mobile or "", card, agent
    )
    warnings = tuple(found.warnings)
    return ValidatedApplicant(normalised, on, holder, age, agent_id=agent_id, warnings=warnings)


def _check_organisation(
    applicant: OrganisationApplicant,
    on: date,
    min_age: int,
    allow_foreign: bool,
    found: _Findings,
) -> ValidatedApplicant:
    name = found.run(_check_text, applicant.name, "name", NAME_MAX)
    uscc = found.run(parse_uscc, applicant.credit_code)
    if uscc:
        found.warnings.extend(f"credit_code: {warning}" for warning in uscc.warnings)
    agent, agent_id = None, None
    if isinstance(applicant.agent, Agent):
        agent, agent_id = _check_agent(applicant.agent, on, min_age, allow_foreign, found)
    else:
        found.errors.append(ApplicantInvalid("agent", "required", _AGENT_REQUIRED))
    normalised = OrganisationApplicant(
        name or "", uscc.code if uscc else "", agent or applicant.agent
    )
    return ValidatedApplicant(
        normalised, on, credit_code=uscc, agent_id=agent_id, warnings=tuple(found.warnings)
    )


_AGENT_REQUIRED = "an agent (name, ID number, authorisation reference) is required"


def _check_agent(
    agent: Agent, on: date, min_age: int, allow_foreign: bool, found: _Findings
) -> tuple[Agent | None, ResidentId | None]:
    # An agent acts with full civil capacity, so the applicant's age rule applies to them too.
    name = found.run(_check_text, agent.name, "agent.name", NAME_MAX)
    agent_id = found.run(
        parse_resident_id,
        agent.id_number,
        today=on,
        allow_foreign=allow_foreign,
        field="agent.id_number",
    )
    _check_age(agent_id, on, min_age, "agent.id_number", found)
    ref = found.run(_check_text, agent.authorisation_ref, "agent.authorisation_ref", REFERENCE_MAX)
    if name is None or agent_id is None or ref is None:
        return None, agent_id
    return Agent(name, agent_id.number, ref), agent_id


def _check_age(
    resident: ResidentId | None, on: date, min_age: int, field: str, found: _Findings
) -> int | None:
    if resident is None:
        return None
    if resident.birth_date is None:
        found.warnings.append(f"{field}: foreign permanent-resident number; age not checked")
        return None
    age = found.run(age_on, resident.birth_date, on, field=field)
    if age is not None and age < min_age:
        found.errors.append(
            ApplicantInvalid(field, "age", f"under {min_age} on the application date")
        )
    return age


def _given(value: object) -> bool:
    """An optional field counts as absent when it is None or blank."""
    return value is not None and not (isinstance(value, str) and not value.strip())


# Control and format characters (tabs, newlines, zero-width spaces, BOMs) are invisible
# on a form, yet make a name differ from the social-insurance record it must match.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs"})


def _check_text(value: object, field: str, max_len: int) -> str:
    if not isinstance(value, str):
        raise ApplicantInvalid(field, "type", "must be text")
    text = value.strip()
    if not text:
        raise ApplicantInvalid(field, "required", "is required")
    if len(text) > max_len:
        raise ApplicantInvalid(field, "length", f"is longer than {max_len} characters")
    if any(unicodedata.category(char) in _INVISIBLE for char in text):
        raise ApplicantInvalid(field, "characters", "contains control or invisible characters")
    return text


# --- batches ----------------------------------------------------------------------------


def validate_all(
    source: Source | Iterable[Applicant | Mapping[str, object]],
    *,
    on: date,
    format: Literal["json", "csv"] | None = None,
    min_age: int = MIN_AGE,
    allow_foreign: bool = False,
) -> list[RowResult]:
    """Check a whole batch and return one ``RowResult`` per row, problems and all.

    ``source`` is a file or its text (see ``load_applicants``), or an iterable of
    applicants or dicts (rows numbered from 1). A file that cannot be read at all
    (not UTF-8, bad JSON, unknown CSV columns) raises ``BatchInvalid`` instead.
    """
    results = []
    for row, record in _records(source, format):
        applicant, errors = _build(record)
        validated = None
        if applicant is not None:
            validated, check_errors = _check(applicant, on, min_age, allow_foreign)
            errors = _merge(errors, check_errors)
            if errors:
                validated = None
        located = tuple(error.at_row(row) for error in errors)
        results.append(RowResult(row, applicant, validated, located))
    return results


# The order problems are listed in: the order of the fields on the application form.
_FIELD_ORDER = (
    *("row", "kind", "name", "id_number", "credit_code", "mobile", "card_number"),
    *("agent", "agent.name", "agent.id_number", "agent.authorisation_ref"),
)


def _merge(
    read_errors: list[ApplicantInvalid], check_errors: list[ApplicantInvalid]
) -> list[ApplicantInvalid]:
    # A field that could not be read gets no second complaint from validation.
    covered = {error.field for error in read_errors}
    kept = [
        error
        for error in check_errors
        if error.field not in covered and error.field.split(".")[0] not in covered
    ]
    return sorted(read_errors + kept, key=_form_position)


def _form_position(error: ApplicantInvalid) -> int:
    field = error.field
    return _FIELD_ORDER.index(field) if field in _FIELD_ORDER else len(_FIELD_ORDER)


def load_applicants(
    source: Source | Mapping[str, object] | Iterable[Mapping[str, object]],
    format: Literal["json", "csv"] | None = None,
) -> list[Applicant]:
    """Read applicant records from JSON, CSV or Python dicts, without validating values.

    A ``str`` holding a line break or starting with ``{`` or ``[`` is the content
    itself, any other ``str`` or path-like is a file name, and ``bytes`` is file
    content. ``format`` defaults to the file suffix, then to the content. Raises
    ``BatchInvalid`` listing every structural problem, each with its row number.
    """
    applicants: list[Applicant] = []
    errors: list[ApplicantInvalid] = []
    for row, record in _records(source, format):
        applicant, found = _build(record)
        errors.extend(error.at_row(row) for error in found)
        if applicant is not None:
            applicants.append(applicant)
    if errors:
        raise BatchInvalid(errors)
    return applicants


def applicant_from_dict(data: Mapping[str, object]) -> Applicant:
    """One applicant from a dict shaped like a JSON record; raises ``ApplicantInvalid``."""
    applicant, errors = _build(data)
    if errors or applicant is None:
        raise errors[0]
    return applicant


# --- records: one dict per applicant, whatever the source -----------------------------------

_PERSONAL_FIELDS = frozenset({"kind", "name", "id_number", "mobile", "card_number", "agent"})
_ORGANISATION_FIELDS = frozenset({"kind", "name", "credit_code", "agent"})
_AGENT_FIELDS = ("name", "id_number", "authorisation_ref")
_KINDS = {"personal": _PERSONAL_FIELDS, "organisation": _ORGANISATION_FIELDS}


def _build(record: object) -> tuple[Applicant | None, list[ApplicantInvalid]]:
    """An applicant from one record, with every structural problem found in it."""
    if isinstance(record, (PersonalApplicant, OrganisationApplicant)):
        return record, []
    if isinstance(record, ApplicantInvalid):  # a row the reader could not turn into a record
        return None, [record]
    if not isinstance(record, Mapping):
        return None, [ApplicantInvalid("row", "type", "must be an object")]
    raw_kind = record.get("kind")
    kind = raw_kind.strip().lower() if isinstance(raw_kind, str) else ""
    if kind not in _KINDS:
        rule = "required" if not _given(raw_kind) else "value"
        return None, [ApplicantInvalid("kind", rule, "must be 'personal' or 'organisation'")]
    errors = _field_errors(record, _KINDS[kind], kind)
    text = _TextReader(record, errors)
    agent = _build_agent(record.get("agent"), errors)
    if kind == "personal":
        card = text.optional("card_number")
        return PersonalApplicant(
            text.required("name"), text.required("id_number"), text.required("mobile"), card, agent
        ), errors
    if agent is None and "agent" not in {error.field for error in errors}:
        errors.append(ApplicantInvalid("agent", "required", _AGENT_REQUIRED))
    placeholder = agent or Agent("", "", "")
    return OrganisationApplicant(
        text.required("name"), text.required("credit_code"), placeholder
    ), errors


def _field_errors(
    record: Mapping[object, object], allowed: frozenset[str], kind: str
) -> list[ApplicantInvalid]:
    errors = []
    for key, value in record.items():
        if not isinstance(key, str) or key not in _PERSONAL_FIELDS | _ORGANISATION_FIELDS:
            errors.append(ApplicantInvalid(str(key), "unknown-field", "unknown field"))
        elif key not in allowed and _given(value):
            errors.append(ApplicantInvalid(key, "unknown-field", f"not used for {kind} applicants"))
    return errors


class _TextReader:
    """Reads text fields from a record; a value of the wrong type is noted, not raised."""

    def __init__(self, record: Mapping[str, object], errors: list[ApplicantInvalid]) -> None:
        self.record = record
        self.errors = errors

    def required(self, key: str, prefix: str = "") -> str:
        # A missing value is left empty here: validation reports it as "is required".
        value = self.record.get(key)
        if value is None or isinstance(value, str):
            return value or ""
        self.errors.append(ApplicantInvalid(prefix + key, "type", "must be text"))
        return ""

    def optional(self, key: str) -> str | None:
        value = self.required(key)
        return value if value.strip() else None


def _build_agent(value: object, errors: list[ApplicantInvalid]) -> Agent | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        errors.append(ApplicantInvalid("agent", "type", "must be an object"))
        return None
    errors.extend(
        ApplicantInvalid(f"agent.{key}", "unknown-field", "unknown field")
        for key in value
        if key not in _AGENT_FIELDS
    )
    text = _TextReader(value, errors)
    return Agent(*(text.required(key, "agent.") for key in _AGENT_FIELDS))


def _records(source: object, format: Literal["json", "csv"] | None) -> list[tuple[int, object]]:
    """(row number, record) pairs from any accepted source."""
    if isinstance(source, Mapping):
        return [(1, source)]
    if isinstance(source, (str, bytes, os.PathLike)):
        text, detected = _read(source, format)
        return _json_records(text) if detected == "json" else _csv_records(text)
    if isinstance(source, Iterable):
        return list(enumerate(source, 1))
    raise InvalidInput("applicants must come from a file, its text, dicts or applicant records")


def _file_error(rule: str, reason: str, row: int | None = None) -> BatchInvalid:
    return BatchInvalid([ApplicantInvalid("file", rule, reason, row=row)])


def _read(source: Source, format: str | None) -> tuple[str, str]:
    """The text of a source, and its format."""
    if format not in (None, "json", "csv"):
        raise InvalidInput("format must be 'json' or 'csv'")
    name = ""
    if isinstance(source, bytes):
        text = _decode(source)
    elif isinstance(source, str) and _is_content(source):
        text = source.removeprefix("\ufeff")
    else:
        path = Path(os.fsdecode(source))
        try:
            data = path.read_bytes()
        except (OSError, ValueError) as error:
            reason = getattr(error, "strerror", None) or "cannot be read"
            raise _file_error("unreadable", f"cannot be read: {reason}") from None
        text, name = _decode(data), path.name.lower()
    return text, format or _guess_format(name, text)


def _is_content(text: str) -> bool:
    return "\n" in text or "\r" in text or text.lstrip("\ufeff \t").startswith(("{", "["))


def _decode(data: bytes) -> str:
    # utf-8-sig drops the BOM that Excel's "CSV UTF-8" writes, and accepts files without.
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _file_error("encoding", "is not UTF-8 text: save it as 'CSV UTF-8'") from None


def _guess_format(name: str, text: str) -> str:
    if name.endswith(".json"):
        return "json"
    if name.endswith(".csv"):
        return "csv"
    return "json" if text.lstrip().startswith(("{", "[")) else "csv"


def _json_records(text: str) -> list[tuple[int, object]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise _file_error("json", f"is not valid JSON (line {error.lineno})") from None
    except (ValueError, RecursionError):
        raise _file_error("json", "is not valid JSON") from None
    if isinstance(data, dict):
        return [(1, data)]
    if isinstance(data, list):
        return list(enumerate(data, 1))
    raise _file_error("json", "must hold an object or a list of objects")


# CSV is flat: agent fields get an ``agent_`` prefix (``agent.id_number`` is ``agent_id_number``).
CSV_COLUMNS = (
    *("kind", "name", "id_number", "mobile", "card_number", "credit_code"),
    *(f"agent_{key}" for key in _AGENT_FIELDS),
)
_CSV_REQUIRED = ("kind", "name")


def _csv_records(text: str) -> list[tuple[int, object]]:
    """Records from CSV text; rows are numbered as a spreadsheet shows them (header = 1)."""
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        raise _file_error("csv", f"is not valid CSV ({error})") from None
    if not rows:
        raise _file_error("csv", "is empty")
    header = [cell.strip().lower() for cell in rows[0]]
    _check_header(header)
    records: list[tuple[int, object]] = []
    for row, cells in enumerate(rows[1:], 2):
        if any(cell.strip() for cell in cells):
            records.append((row, _csv_record(header, cells)))
    return records


def _check_header(header: list[str]) -> None:
    errors = [
        ApplicantInvalid(name, "unknown-column", "unknown column", row=1)
        for name in header
        if name and name not in CSV_COLUMNS
    ]
    errors += [
        ApplicantInvalid(name, "duplicate-column", "column appears twice", row=1)
        for name in sorted({name for name in header if name and header.count(name) > 1})
    ]
    errors += [
        ApplicantInvalid(name, "missing-column", "column missing", row=1)
        for name in _CSV_REQUIRED
        if name not in header
    ]
    if errors:
        raise BatchInvalid(errors)


def _csv_record(header: list[str], cells: list[str]) -> object:
    # Cells beyond the header, or under a blank header, must be empty: a value there
    # belongs to no field and would otherwise be lost without a word.
    # Rows may be shorter than the header (missing cells read as empty), hence strict=False.
    paired = list(zip(header, cells, strict=False))
    stray = cells[len(header) :] + [cell for name, cell in paired if not name]
    if any(cell.strip() for cell in stray):
        return ApplicantInvalid("row", "stray-cells", "has values outside the header's columns")
    flat = {name: cell for name, cell in paired if name}
    record: dict[str, object] = {
        key: value for key, value in flat.items() if not key.startswith("agent_")
    }
    agent = {key: flat.get(f"agent_{key}", "") for key in _AGENT_FIELDS}
    if any(value.strip() for value in agent.values()):
        record["agent"] = agent
    return record
