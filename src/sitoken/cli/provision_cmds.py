"""CLI: the counter workflow (provision, batch), the certificate's lifecycle, and the journal."""

from __future__ import annotations

import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click

from ..certs import load_certificates
from ..discovery import software_device_key
from ..errors import InvalidInput
from ..pin import Pin, PinPolicy
from ..provisioning import lifecycle
from ..provisioning.applicant import BatchInvalid, validate_all
from ..provisioning.audit import AuditLog, DatabaseAuditLog, default_operator
from ..provisioning.batch import OUTCOMES, BatchSummary, RowOutcome, check_batch, load_batch, run_batch
from ..provisioning.holder_pins import (
    DirectoryPins,
    FixedPin,
    GeneratedPins,
    HolderPinSource,
    PromptPins,
    holder_context,
)
from ..provisioning.issuers import FileHandoffIssuer, Issuer, local_issuer
from ..provisioning.journal import Journal, claim_to_dict, default_state_dir, journal_location, mask
from ..provisioning.journal_store import SCHEMA_VERSION, copy_rows
from ..provisioning.profiles import ProfileSet, load_profiles
from ..provisioning.workflow import Counter, ProvisionResult
from . import exitcodes
from .common import (
    confirm,
    device_key_options,
    emit,
    force_option,
    json_option,
    pin_options,
    read_device_key,
    read_input,
    read_pin,
    selection_options,
    state,
    step,
)

F = TypeVar("F", bound=Callable[..., Any])


journal_option = click.option(
    "--journal", "journal_path", metavar="FILE|URL",
    help="Journal: a SQLite file, or postgresql://... for a hall of counters "
         "(default: $SITOKEN_JOURNAL, else $SITOKEN_STATE_DIR/journal.sqlite).")


def counter_audit(journal: Journal, audit_path: str | None, operator: str) -> AuditLog:
    """The audit log beside the journal: its file, or the hall's database table."""
    if audit_path:
        return AuditLog(Path(audit_path), operator)
    if journal.backend == "postgresql":
        return DatabaseAuditLog(journal.store, operator)
    return AuditLog(Path(journal.path).with_name("audit.jsonl"), operator)


def counter_options(f: F) -> F:
    """Where the counter keeps its records and which issuer it uses."""
    options = [
        journal_option,
        click.option("--audit", "audit_path", metavar="FILE",
                     help="Audit log (JSON lines). Default: next to a SQLite journal; in the database of a "
                          "PostgreSQL one."),
        click.option("--operator", help="Who is at the counter (default: $USER)."),
        click.option("--issuer", type=click.Choice(["local", "file"]), default="local", show_default=True,
                     help="local: the local CA issues at once; file: the request goes to --outbox for a real CA."),
        click.option("--ca", "ca_dir", metavar="DIR", help="Local CA directory (created on first use)."),
        click.option("--outbox", metavar="DIR", help="Where the file issuer writes requests."),
        click.option("--trust", "trust_file", metavar="FILE", help="Root certificate(s) the round trip verifies to."),
        click.option("--profiles", "profiles_file", metavar="FILE", help="Certificate profiles (JSON or TOML)."),
        click.option("--profile", "profile_names", metavar="NAME", multiple=True,
                     help="The profile for applicants of its kind, e.g. personal-sm2 (repeat for both kinds). "
                          "Default: the CA's (an SM2 local CA: the dual-certificate ones), else by kind."),
    ]
    for option in reversed(options):
        f = option(f)
    return device_key_options(f)


def holder_pin_options(f: F) -> F:
    """The holder's PIN: a directory of per-holder files, generated initial PINs, one PIN, or a prompt."""
    f = click.option("--holder-pin-dir", metavar="DIR",
                     help="One file per holder: DIR/<ID number or credit code>.pin.")(f)
    f = click.option("--generate-pins", metavar="DIR",
                     help="Generate a random initial PIN per holder into DIR (0600); the holder must change it.")(f)
    return pin_options("holder-pin", "holder's PIN")(f)


@contextmanager
def open_counter(opts: dict[str, Any], *, so_pin: bool, so_optional: bool = False) -> Iterator[Counter]:
    """The Counter the options describe; the SO PIN is read once, and wiped at the end."""
    base = default_state_dir()
    location = journal_location(opts.get("journal_path"))
    operator = opts.get("operator") or default_operator()
    policy = PinPolicy()
    pin = None
    if so_pin and (not so_optional or "so-pin" in state().pin_sources):
        pin = read_pin("so-pin", "counter's SO PIN")
    journal = Journal(location, operator=operator, waiting=_say_waiting)
    device_key = None
    try:
        ca_dir = opts.get("ca_dir") or base / "local-ca"
        profiles = load_profiles(opts.get("profiles_file"),
                                 ca_directory=ca_dir if opts.get("issuer") == "local" else None)
        device_key = read_device_key() or software_device_key(state().module)
        counter = Counter(
            journal, counter_audit(journal, opts.get("audit_path"), operator), _issuer(opts, base, ca_dir), so_pin=pin,
            holder_pins=_holder_source(opts, policy), profiles=profiles, module=state().module, policy=policy,
            token=state().token, progress=step, device_key=device_key,
            profile_choice=_profile_choice(opts.get("profile_names") or (), profiles),
        )
        yield counter
    finally:
        journal.close()
        if pin is not None:
            pin.wipe()
        if device_key is not None:
            device_key.wipe()


def _profile_choice(names: tuple[str, ...], profiles: ProfileSet) -> dict[str, str]:
    """--profile NAME...: kind -> name; two profiles of one kind are refused."""
    chosen: dict[str, str] = {}
    for name in names:
        if name not in profiles.profiles:
            raise click.BadParameter(f"no profile {name!r} in {profiles.source}; known: "
                                     f"{', '.join(profiles.profiles)}", param_hint="--profile")
        kind = profiles.profiles[name].kind
        if chosen.get(kind, name) != name:
            raise click.BadParameter(f"{chosen[kind]!r} and {name!r} are both {kind} profiles: choose one",
                                     param_hint="--profile")
        chosen[kind] = name
    return chosen


def _say_waiting(message: str) -> None:
    """A journal locked by another process: say so on stderr (even with --json) instead of hanging silently."""
    click.echo(message, err=True)


def _issuer(opts: dict[str, Any], base: Path, ca_dir: Path) -> Issuer:
    trust = tuple(load_certificates(read_input(opts["trust_file"]))) if opts.get("trust_file") else ()
    if opts.get("issuer") == "file":
        return FileHandoffIssuer(opts.get("outbox") or base / "outbox", trust)
    return local_issuer(ca_dir)


def _holder_source(opts: dict[str, Any], policy: PinPolicy) -> HolderPinSource:
    if opts.get("generate_pins"):
        return GeneratedPins(opts["generate_pins"], policy)
    if opts.get("holder_pin_dir"):
        return DirectoryPins(opts["holder_pin_dir"])
    if "holder-pin" in state().pin_sources:
        return FixedPin(read_pin("holder-pin", "holder's PIN"))

    def ask(key: str, new: bool) -> Pin:
        who = f"holder's PIN for {mask(key)}" if not new else f"new PIN for {mask(key)} (the holder types it)"
        return read_pin("holder-pin", who, new=new, policy=policy if new else None, holder=holder_context(key))

    return PromptPins(ask)


def _needs_holder_source(opts: dict[str, Any]) -> None:
    given = opts.get("generate_pins") or opts.get("holder_pin_dir") or "holder-pin" in state().pin_sources
    if not given and not sys.stdin.isatty():
        raise click.UsageError("no holder PIN source: use --holder-pin-dir DIR, --generate-pins DIR or "
                               "--holder-pin-env VAR (PINs never come from the applicant file)")


def _result_text(r: ProvisionResult) -> str:
    if r.already_done:
        return f"{r.subject}: already provisioned (enrolment {r.enrolment}, token {r.token_label}); nothing done"
    if r.state == "awaiting-certificate":
        return (f"{r.subject}: request written to {r.handoff}; finish with "
                f"'sitoken provision complete --certificate FILE' when the CA answers")
    lines = [f"{r.subject}: {r.purpose} {r.state} (enrolment {r.enrolment})",
             f"  token {r.token_label} (serial {r.token_serial}), key {r.key_label} (id {r.key_id})",
             f"  certificate serial {r.certificate_serial}, valid until {r.not_after}"]
    if r.encryption_certificate_serial:
        escrow = f" (key escrowed by the KMC: {r.escrow_ref})" if r.escrow_ref else ""
        lines.append(f"  encryption certificate serial {r.encryption_certificate_serial}, valid until "
                     f"{r.encryption_not_after}{escrow}")
    if r.pin_must_change:
        lines.append("  the holder must change the initial PIN: sitoken pin change --token " + str(r.token_label))
    lines += [f"  note: {n}" for n in r.notes]
    return "\n".join(lines)


# --- provision ------------------------------------------------------------------------------


@click.group("provision", invoke_without_command=True)
@selection_options
@click.option("--applicant", "applicant_file", metavar="FILE", help="One applicant, JSON or CSV.")
@click.option("--resume", is_flag=True, help="Carry on an enrolment a killed run left unfinished.")
@counter_options
@holder_pin_options
@pin_options("so-pin", "counter's SO PIN")
@force_option
@json_option
@click.pass_context
def provision_group(ctx: click.Context, /, applicant_file: str | None, resume: bool, force: bool,
                    **opts: Any) -> None:
    """The counter workflow for one applicant: token, PIN, key, request, certificate, check.

    The token is (re)initialised with the counter's SO PIN, the holder sets the user PIN,
    a key pair is generated, the request is issued (local CA) or handed off (--issuer file),
    the certificate and chain are installed, and a CMS document is signed and verified.
    Every step is journalled; a rerun never provisions the same holder twice.

    \b
    Examples:
      sitoken provision --applicant zhang.json --so-pin-env SO_PIN            # holder types the PIN
      sitoken provision --applicant org.json --so-pin-file /run/secrets/so --holder-pin-env PIN
      sitoken provision --applicant zhang.json --issuer file --outbox ./to-ca --so-pin-env SO_PIN
      sitoken provision complete --certificate from-ca.pem --holder-pin-env PIN
    """
    if ctx.invoked_subcommand is not None:
        ctx.meta["sitoken.provision.options"] = opts
        return
    if not applicant_file:
        raise click.UsageError("give --applicant FILE (or a subcommand: complete, pin-reset)")
    rows = validate_all(applicant_file, on=date.today())
    if len(rows) != 1:
        raise click.UsageError(f"{applicant_file} holds {len(rows)} applicants: use 'sitoken batch'")
    if rows[0].validated is None:
        raise BatchInvalid(list(rows[0].errors))
    _needs_holder_source(opts)
    with open_counter(opts, so_pin=True) as counter:
        if state().token and counter.initialises_token(rows[0].validated):
            # Asked only when this run will erase it: a holder already done (or past that step) is not.
            confirm(f"Token {state().token!r} will be erased and initialised for this holder. Continue?", force)
        result = counter.provision(rows[0].validated, resume=resume)
    emit(result.to_dict(), _result_text(result))


def _group_opts(ctx: click.Context, /, opts: dict[str, Any]) -> dict[str, Any]:
    """Options given before the subcommand (on the group) fill in those not given after it."""
    parent = ctx.meta.get("sitoken.provision.options", {})
    return {**parent, **{k: v for k, v in opts.items() if v not in (None, False, ())}}


@provision_group.command("complete")
@selection_options
@click.option("--certificate", "certificate_file", required=True, metavar="FILE",
              help="What the CA returned: the (signature) certificate, with its chain (PEM bundle, DER or .p7b).")
@click.option("--enc-certificate", "enc_certificate_file", metavar="FILE",
              help="Dual SM2 certificates: the KMC's encryption certificate.")
@click.option("--envelope", "envelope_file", metavar="FILE",
              help="Dual SM2 certificates: the KMC's envelope holding the encryption key (GM/T 0009, DER).")
@click.option("--escrow-ref", metavar="TEXT",
              help="Dual SM2 certificates: the KMC's reference for its escrowed copy, kept in the journal.")
@counter_options
@holder_pin_options
@json_option
@click.pass_context
def provision_complete(ctx: click.Context, /, certificate_file: str, enc_certificate_file: str | None,
                       envelope_file: str | None, escrow_ref: str | None, **opts: Any) -> None:
    """Finish a handed-off enrolment: install the returned certificate(s), check them, journal it.

    For a dual-certificate (SM2) profile, the encryption certificate and the envelope are
    checked against the request, the key on the token and each other, and the envelope is
    imported into the signature key's container; a refused file leaves token and journal as
    they were.

    \b
    Examples:
      sitoken provision complete --certificate from-ca.pem --holder-pin-env PIN
      sitoken provision complete --module skf --certificate sign.pem --enc-certificate enc.pem \\
          --envelope enc.env --holder-pin-env PIN --profile personal-sm2
    """
    opts = {**_group_opts(ctx, opts), "issuer": "file"}
    enc = read_input(enc_certificate_file) if enc_certificate_file else None
    envelope = read_input(envelope_file) if envelope_file else None
    with open_counter(opts, so_pin=False) as counter:
        result = counter.complete(read_input(certificate_file), enc, envelope, escrow_ref=escrow_ref)
    emit(result.to_dict(), _result_text(result))


@provision_group.command("pin-reset")
@selection_options
@click.option("--applicant-id", required=True, metavar="NUMBER", help="The holder's ID number or credit code.")
@counter_options
@pin_options("so-pin", "counter's SO PIN")
@pin_options("new-pin", "holder's new PIN")
@json_option
@click.pass_context
def provision_pin_reset(ctx: click.Context, /, applicant_id: str, **opts: Any) -> None:
    """Forgotten PIN: check the ID card, then set a new user PIN with the SO PIN; journalled and audited."""
    opts = _group_opts(ctx, opts)
    with open_counter(opts, so_pin=True) as counter:
        key = lifecycle.find_subject(counter, applicant_id)
        with read_pin("new-pin", "holder's new PIN", new=True, policy=counter.policy,
                      holder=holder_context(key)) as new_pin:
            record = lifecycle.reset_pin(counter, key, new_pin)
    emit(record.to_dict(), f"{record.subject}: user PIN reset on token {record.token_label}; recorded")


# --- batch ------------------------------------------------------------------------------------


def _row_line(o: RowOutcome) -> str:
    if o.outcome == "invalid":
        problems = "; ".join(f"{e['field']}: {e['reason']}" for e in o.errors)
        return f"row {o.row}: invalid, skipped ({problems})"
    if o.outcome in ("failed", "conflict"):
        return f"row {o.row}: {o.subject} {o.outcome}: {o.errors[0]['message']}"
    if o.outcome == "held":
        who = o.held_by or {}
        return (f"row {o.row}: {o.subject} held by another process ({who.get('operator')}, pid {who.get('pid')} "
                f"on {who.get('host')}): left to it")
    if o.token_label is None:
        return f"row {o.row}: {o.subject} {o.outcome}"
    return f"row {o.row}: {o.subject} {o.outcome} (token {o.token_label}, enrolment {o.enrolment})"


def _summary_text(s: BatchSummary) -> str:
    counts = ", ".join(f"{s.count(o)} {o}" for o in OUTCOMES if s.count(o))
    return f"batch {s.batch}: {len(s.rows)} row(s): {counts or 'nothing to do'}"


@click.command("batch")
@selection_options
@click.argument("file")
@click.option("--resume", is_flag=True, help="Carry on enrolments a killed run left unfinished.")
@click.option("--check", is_flag=True,
              help="Only check every row, and the rows against the journal; touch no token, write nothing.")
@counter_options
@holder_pin_options
@pin_options("so-pin", "counter's SO PIN")
@json_option
@click.pass_context
def batch(ctx: click.Context, /, file: str, resume: bool, check: bool, **opts: Any) -> None:
    """Provision every applicant of a CSV or JSON file; invalid rows are reported and skipped.

    Each holder gets a new token (the module's next uninitialised one; on the simulated
    store one is created per holder). Exit 0 when every row is done, 15 when some rows
    were invalid, in conflict (one ID number with different data), failed, or held by
    another process running at the same time (the --json summary says which and why).
    Several batches may run at once on one journal: each holder is worked on by one of them.

    \b
    Examples:
      sitoken batch applicants.csv --check --json        # every row checked, nothing touched
      sitoken batch applicants.csv --so-pin-env SO_PIN --generate-pins ./pins --json
      sitoken batch applicants.csv --so-pin-env SO_PIN --holder-pin-dir ./pins --resume
    """
    if check:
        _check_only(ctx, file, opts)
        return
    _needs_holder_source(opts)
    with open_counter(opts, so_pin=True) as counter:
        batch_id, rows = load_batch(file, counter.on)
        summary = _run_with_progress(counter, rows, batch_id, resume)
    emit(summary.to_dict(), lambda: _summary_text(summary))
    if not summary.complete:
        ctx.exit(exitcodes.BATCH_INCOMPLETE)


def _check_only(ctx: click.Context, file: str, opts: dict[str, Any]) -> None:
    location = journal_location(opts.get("journal_path"))
    if isinstance(location, str) or location.exists():
        with Journal(location, operator=opts.get("operator") or default_operator(), waiting=_say_waiting) as journal:
            summary = check_batch(journal, file, date.today())
    else:
        summary = check_batch(None, file, date.today())
    emit({**summary.to_dict(), "checked_only": True}, lambda: "\n".join(
        [*(_row_line(o) for o in summary.rows), _summary_text(summary) + " (checked only; nothing done)"]))
    if not summary.complete:
        ctx.exit(exitcodes.BATCH_INCOMPLETE)


def _run_with_progress(counter: Counter, rows: list[Any], batch_id: str, resume: bool) -> BatchSummary:
    """Run the batch; Ctrl-C lets the current row finish, then stops with what was done (exit 130)."""
    done: list[RowOutcome] = []
    with _finish_row_on_ctrl_c() as stop:
        # The bar is drawn once Ctrl-C is taken over, so no Ctrl-C after it shows can kill the row.
        live = _LiveProgress(len(rows)) if not state().json and sys.stderr.isatty() else None
        counter.progress = live.step if live else (lambda _m: None)

        def tell(o: RowOutcome) -> None:
            done.append(o)
            if live is not None:
                live.row(_row_line(o))
            elif not state().json:
                click.echo(_row_line(o))
            if stop.is_set():
                raise _Interrupted()

        try:
            return run_batch(counter, rows, batch=batch_id, resume=resume, progress=tell)
        except _Interrupted:
            if live is not None:
                live.clear()
            raise click.exceptions.Exit(_report_interruption(done, len(rows))) from None
        finally:
            if live is not None:
                live.clear()


class _Interrupted(Exception):
    """Ctrl-C arrived; raised between rows, once the current row is finished."""


@contextmanager
def _finish_row_on_ctrl_c() -> Iterator[threading.Event]:
    """The first Ctrl-C asks to stop after the current row; a second one stops at once (the journal
    keeps each step, so --resume carries on the row it stopped in)."""
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        click.echo("\nCtrl-C: finishing the current row, then stopping (Ctrl-C again to stop at once)", err=True)

    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _report_interruption(done: list[RowOutcome], total: int) -> int:
    counts = ", ".join(f"{sum(o.outcome == k for o in done)} {k}" for k in sorted({o.outcome for o in done}))
    resume = " ".join(shlex.quote(a) for a in ["sitoken", *_args_with_resume()])
    message = (f"interrupted after {len(done)} of {total} row(s) ({counts or 'none done'}); "
               f"carry on with: {resume}")
    payload = {"error": "interrupted", "message": message, "exit_code": exitcodes.INTERRUPTED,
               "rows": [o.to_dict() for o in done], "resume_command": resume}
    emit(payload, message)
    if not state().json:
        click.echo(f"error: {message}", err=True)
    return exitcodes.INTERRUPTED


def _args_with_resume() -> list[str]:
    args = sys.argv[1:]
    return args if "--resume" in args else [*args, "--resume"]


class _LiveProgress:
    """A bar on stderr with the current step; each finished row is printed above it as it happens."""

    WIDTH = 24

    def __init__(self, total: int) -> None:
        self.total, self.finished, self.current = total, 0, ""
        self._draw()

    def step(self, message: str) -> None:
        self.current = message
        self._draw()

    def row(self, line: str) -> None:
        self.clear()
        click.echo(line)
        self.finished += 1
        self.current = ""
        self._draw()

    def clear(self) -> None:
        click.echo("\r\033[K", nl=False, err=True)

    def _draw(self) -> None:
        filled = self.WIDTH * self.finished // max(self.total, 1)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        text = f"\r\033[Kprovisioning [{bar}] {self.finished}/{self.total} {self.current}"
        click.echo(text[:200], nl=False, err=True)


# --- lifecycle ------------------------------------------------------------------------------


def _applicant_id_option(f: F) -> F:
    return click.option("--applicant-id", required=True, metavar="NUMBER",
                        help="The holder's ID number or credit code.")(f)


@click.command("renew")
@selection_options
@_applicant_id_option
@click.option("--remove-old", is_flag=True, help="Delete the old key and certificate once the new one works.")
@counter_options
@holder_pin_options
@json_option
def renew(applicant_id: str, remove_old: bool, **opts: Any) -> None:
    """Renew on the same token: new key, request, certificate; the old one stays until the new one works.

    \b
    Example:
      sitoken renew --applicant-id 110105199003071239 --holder-pin-env PIN --remove-old
    """
    if opts.get("generate_pins"):
        raise click.UsageError("renewal logs in with the holder's existing PIN: --generate-pins does not apply")
    with open_counter(opts, so_pin=False) as counter:
        result = lifecycle.renew(counter, lifecycle.find_subject(counter, applicant_id), remove_old=remove_old)
    emit(result.to_dict(), _result_text(result))


@click.command("report-loss")
@selection_options
@_applicant_id_option
@click.option("--reason", type=click.Choice(list(lifecycle.LOSS_REASONS)), default="lost", show_default=True)
@click.option("--revocations", metavar="DIR", help="Where the revocation request goes (default: state dir).")
@counter_options
@holder_pin_options
@pin_options("so-pin", "counter's SO PIN")
@force_option
@json_option
def report_loss(applicant_id: str, reason: str, revocations: str | None, force: bool, **opts: Any) -> None:
    """Report a lost or damaged key: journal it, request revocation, destroy the objects if the token is here.

    With --so-pin-… a token that is present is wiped; with a holder PIN source its key and
    certificate are deleted. Then 'sitoken reissue' makes a new certificate on a new token.
    """
    confirm(f"Report the certificate of {mask(applicant_id.strip().upper())} as {reason}?", force)
    target = Path(revocations) if revocations else default_state_dir() / "revocations"
    with open_counter(opts, so_pin=True, so_optional=True) as counter:
        report = lifecycle.report_loss(counter, lifecycle.find_subject(counter, applicant_id), reason=reason,
                                       revocations=target)
    if report.destroyed:
        destroyed = "objects destroyed"
    elif report.token_present:
        destroyed = f"objects NOT destroyed ({report.not_destroyed_because})"
    else:
        destroyed = "token not present: nothing to destroy"
    requested = "; ".join(f"certificate {r.certificate_serial} ({r.state}) -> {r.request}"
                          for r in report.revocations) or "no valid certificate to revoke"
    emit(report.to_dict(), f"{report.subject}: reported {reason}; revocation requested for {requested}; "
                           f"{destroyed}. Next: sitoken reissue --applicant-id ...")


@click.command("reissue")
@selection_options
@_applicant_id_option
@counter_options
@holder_pin_options
@pin_options("so-pin", "counter's SO PIN")
@json_option
def reissue(applicant_id: str, **opts: Any) -> None:
    """After a loss report: the whole workflow again onto a new token; the journal links old to new."""
    _needs_holder_source(opts)
    with open_counter(opts, so_pin=True) as counter:
        result = lifecycle.reissue(counter, lifecycle.find_subject(counter, applicant_id))
    emit(result.to_dict(), _result_text(result))


# --- journal --------------------------------------------------------------------------------


@click.group("journal")
def journal_group() -> None:
    """The provisioning journal: what was done for whom, on which token, and where it stopped."""


@journal_group.command("show")
@journal_option
@click.option("--applicant-id", metavar="NUMBER", help="Only this holder.")
@click.option("--events", is_flag=True, help="Also list every journalled step.")
@json_option
def journal_show(journal_path: str | None, applicant_id: str | None, events: bool) -> None:
    """List enrolments (subject numbers masked): state, token, certificate, errors."""
    location = journal_location(journal_path)
    if isinstance(location, Path) and not location.exists():
        raise InvalidInput(f"no journal at {location}")
    with Journal(location) as journal:
        key = applicant_id.strip().upper() if applicant_id else None
        rows = [e.to_dict() for e in journal.enrolments(key)]
        wanted = {r["enrolment"] for r in rows}
        log = [e.to_dict() for e in journal.events() if e.enrolment in wanted] if events else []
        claims = [claim_to_dict(c) for c in journal.claims(key)]
        where = str(journal.path)
    data: dict[str, object] = {"journal": where, "enrolments": rows, "claims": claims}
    if events:
        data["events"] = log
    emit(data, lambda: _journal_text(rows, log, claims))


@journal_group.command("migrate")
@journal_option
@json_option
def journal_migrate(journal_path: str | None) -> None:
    """Bring a journal's schema up to this sitoken's version (once per hall, by its administrator).

    A counter's own SQLite file is migrated when it is opened; a hall's PostgreSQL journal only
    by this command, so that no counter changes the shared schema by surprise.

    \b
    Examples:
      sitoken journal migrate --journal 'postgresql:///sitoken?service=hall'
      SITOKEN_JOURNAL=postgresql://journal.hall.example/sitoken sitoken journal migrate --json
    """
    location = journal_location(journal_path)
    with Journal.for_migration(location, waiting=_say_waiting) as journal:
        before = journal.schema_version()
        applied = journal.store.migrate()
        where = str(journal.path)
    emit({"journal": where, "backend": journal.backend, "from": before, "to": SCHEMA_VERSION, "applied": applied},
         lambda: f"{where}: schema {before} -> {SCHEMA_VERSION}" if applied else f"{where}: already at schema "
         f"{SCHEMA_VERSION}")


@journal_group.command("copy")
@click.option("--from", "source", metavar="FILE", required=True, help="The SQLite journal to copy.")
@click.option("--to", "target", metavar="URL", required=True, help="The (migrated, empty) journal to fill.")
@click.option("--audit", "audit_path", metavar="FILE",
              help="Also copy this JSON-lines audit log into the target's audit table (PostgreSQL).")
@json_option
def journal_copy(source: str, target: str, audit_path: str | None) -> None:
    """Copy a counter's journal into another, typically a hall's PostgreSQL database.

    Holders, enrolments and events keep their ids; claims are not copied (they belong to
    processes). The target must be migrated and empty.

    \b
    Example:
      sitoken journal copy --from ~/.local/state/sitoken/journal.sqlite \\
          --to 'postgresql:///sitoken?service=hall' --audit ~/.local/state/sitoken/audit.jsonl
    """
    src_location = journal_location(source)
    if isinstance(src_location, Path) and not src_location.exists():
        raise InvalidInput(f"no journal at {src_location}")
    with Journal(src_location) as src, Journal(journal_location(target), waiting=_say_waiting) as dst:
        counts = copy_rows(src.store, dst.store)
        if audit_path:
            counts["audit"] = _copy_audit(Path(audit_path), dst)
        where = str(dst.path)
    emit({"from": str(src_location), "to": where, "copied": counts},
         lambda: f"copied into {where}: " + ", ".join(f"{n} {t}" for t, n in counts.items()))


def _copy_audit(path: Path, target: Journal) -> int:
    if target.backend != "postgresql":
        raise InvalidInput("--audit copies into a PostgreSQL journal's audit table")
    entries = AuditLog(path).entries()
    sink = DatabaseAuditLog(target.store)
    for entry in entries:
        sink.append_copied(entry)
    return len(entries)


def _journal_text(rows: list[dict[str, object]], log: list[dict[str, object]],
                  claims: list[dict[str, object]]) -> str:
    lines = [f"{r['enrolment']:>4} {r['subject']} {r['purpose']:<8} {r['state']:<21} token {r['token_label']} "
             f"cert {r['certificate_serial'] or '-'}"
             + (f" enc {r['encryption_certificate_serial']}" if r.get("encryption_certificate_serial") else "")
             + (f"  error: {r['last_error']}" if r["last_error"] else "")
             for r in rows]
    lines += [f"  #{e['enrolment']} {e['at']} {e['step']}: {e['outcome']} {e['detail']}" for e in log]
    lines += [f"claim {c['resource']}: {c['operator']}, pid {c['pid']} on {c['host']}, lease until {c['expires']}"
              + ("" if c["live"] else " (stale: its owner is gone or its lease ran out)") for c in claims]
    return "\n".join(lines) or "the journal is empty"


#: Registered by the CLI root.
PROVISION_COMMANDS = (provision_group, batch, renew, report_loss, reissue, journal_group)
