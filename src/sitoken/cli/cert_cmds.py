"""CLI: certificate requests, certificates on the token, and the local (demo/QA) CA."""

from __future__ import annotations

from pathlib import Path

import click

from ..certs import CertInfo, LocalCA, build_csr, build_self_signed, csr_pem, to_pem
from ..certs.ontoken import (
    RENEWAL_WINDOW_DAYS,
    TokenCertificate,
    TokenSigner,
    certificate_for_key,
    chain_for,
    install_certificates,
    token_certificates,
)
from ..discovery import list_tokens, open_token
from ..token import Mechanism, Token
from .common import (
    MECHANISMS,
    SM2_ID_OPTION,
    check_output,
    emit,
    json_option,
    login,
    login_for_writes,
    open_selected,
    overwrite_option,
    pin_options,
    read_input,
    selection_options,
    sm2_id_bytes,
    state,
    step,
    write_output,
)

SAN_HELP = "Subject alternative name: email:ADDR, dns:NAME or uri:URI (repeatable)."


@click.command("csr")
@selection_options
@click.option("--key", "selector", required=True, help="Key label, or id:HEX.")
@click.option("--subject", required=True, help="RFC 4514 subject, e.g. 'CN=张三,OU=Individual-1,C=CN'.")
@click.option("--san", multiple=True, help=SAN_HELP)
@click.option("--key-usage", multiple=True, help="Requested key usage (default: digital_signature, non_repudiation).")
@click.option("--eku", multiple=True, help="Requested extended key usage, e.g. client_auth (repeatable).")
@click.option("--mechanism", type=MECHANISMS, help="Signature scheme (default: the key type's).")
@SM2_ID_OPTION
@click.option("--out", required=True, help="Request file, or - for stdout.")
@click.option("--format", "fmt", type=click.Choice(["pem", "der"]), default="pem", show_default=True)
@overwrite_option
@pin_options("pin", "user PIN")
@json_option
def csr(selector: str, subject: str, san: tuple[str, ...], key_usage: tuple[str, ...], eku: tuple[str, ...],
        mechanism: str | None, sm2_id: str | None, out: str, fmt: str, force: bool) -> None:
    """Make a certificate request (PKCS#10) signed by a key on the token.

    An SM2 key signs it SM2-with-SM3 with the signer ID of --sm2-id (default 1234567812345678):
    check it with `openssl req -verify -vfyopt distid:1234567812345678`.

    \b
    Examples:
      sitoken csr --key sign --subject 'CN=张三,OU=Individual-1,O=某社保中心,C=CN' --out req.pem
      sitoken csr --key sign --subject 'CN=Li Si,C=CN' --san email:lisi@example.cn --eku client_auth \\
          --out req.der --format der
      sitoken csr --module skf --token KEY1 --key sign --subject 'CN=张三,C=CN' --out sm2req.pem
    """
    check_output(out, force=force)
    token = open_selected()
    token.sm2_id = sm2_id_bytes(sm2_id)
    login(token)
    options: dict[str, object] = {"san": san, "extended_key_usage": eku}
    if key_usage:
        options["key_usage"] = key_usage
    der = build_csr(TokenSigner(token, selector), subject,
                    mechanism=Mechanism(mechanism) if mechanism else None, **options)  # type: ignore[arg-type]
    write_output(out, csr_pem(der) if fmt == "pem" else der, force=force)
    emit({"key": selector, "subject": subject, "out": out, "bytes": len(der)},
         f"certificate request for {selector!r} written to {out}")


@click.group("cert")
def cert_group() -> None:
    """Certificates on the token: import with chain, list, status, export, self-sign.

    \b
    Examples:
      sitoken cert import issued.pem                 # leaf + chain; bound to its key by public key
      sitoken cert list --json
      sitoken cert status --all-tokens --json        # days left, renew_due, per certificate
      sitoken cert export --key sign --chain --out chain.pem
    """


def _cert_line(c: TokenCertificate) -> str:
    kind = "CA  " if c.authority else "leaf"
    owner = f"key {c.key}" if c.key else "no key"
    return (f"{kind} {c.info.subject}\n     issuer {c.info.issuer}; serial {c.info.serial}; {owner}; "
            f"{c.info.status}, {c.info.days_left} days left (until {c.info.not_after:%Y-%m-%d})")


@cert_group.command("import")
@selection_options
@click.argument("file", required=False)
@click.option("--key", "selector", help="The key pair it belongs to (default: found by public key).")
@click.option("--label", help="Label of the certificate object (default: the key's label).")
@click.option("--move-misplaced", is_flag=True,
              help="Instead of a FILE: move a holder's certificate an older sitoken stored under another "
                   "key's place (an OpenPGP card's aut) to its own key's (see 'sitoken doctor').")
@pin_options("pin", "user PIN")
@pin_options("so-pin", "SO (admin) PIN, for cards that write certificates under it")
@json_option
def cert_import(file: str | None, selector: str | None, label: str | None, move_misplaced: bool) -> None:
    """Install a certificate (PEM, DER, PEM bundle with its chain, or .p7b) next to its key.

    A certificate whose public key matches no key on the token, an expired
    one, or a bundle whose certificates do not chain is refused, and the token
    is left unchanged.

    \b
    Examples:
      sitoken cert import issued.pem
      sitoken cert import --token pcsc:0 --move-misplaced --so-pin-env ADMIN_PIN
    """
    if file is None or move_misplaced:
        if file is not None or not move_misplaced:
            raise click.UsageError("give a certificate FILE, or --move-misplaced without one")
        _move_misplaced(open_selected())
        return
    token = open_selected()
    login_for_writes(token)
    installed = install_certificates(token, read_input(file), key=selector, label=label)
    added = f"; added {len(installed.added_chain)} CA certificate(s)" if installed.added_chain else ""
    what = "already on the token" if installed.already_present else "installed"
    emit(installed.to_dict(), f"{what} for key {installed.certificate.key!r}{added}\n"
         + _cert_line(installed.certificate))


def _move_misplaced(token: Token) -> None:
    if token.misplaced_certificates():  # nothing to move: no PIN asked
        login_for_writes(token)
    moved = token.move_misplaced_certificates()
    lines = [f"moved the certificate of key {m.belongs_to!r} from key {m.stored_under!r}'s place to its own"
             for m in moved]
    emit({"moved": [m.to_dict() for m in moved]}, "\n".join(lines) or "no misplaced certificate: nothing moved")


@cert_group.command("list")
@selection_options
@click.option("--window", type=int, default=RENEWAL_WINDOW_DAYS, show_default=True,
              help="Days before expiry when renewal is due.")
@json_option
def cert_list(window: int) -> None:
    """List the certificates on the token."""
    certs = token_certificates(open_selected(), renew_window_days=window)
    emit([c.to_dict() for c in certs], lambda: "\n".join(map(_cert_line, certs)) or "no certificates")


@cert_group.command("status")
@selection_options
@click.option("--all-tokens", is_flag=True, help="Every token of the module, not just the selected one.")
@click.option("--window", type=int, default=RENEWAL_WINDOW_DAYS, show_default=True,
              help="Days before expiry when renewal is due.")
@json_option
def cert_status(all_tokens: bool, window: int) -> None:
    """Expiry state of the holders' certificates: valid, renew-due, expired."""
    rows = []
    st = state()
    targets = [t.serial for t in list_tokens(st.module)] if all_tokens else [st.token]
    for selector in targets:
        token = open_token(selector, module=st.module)
        try:
            info = token.info()
            for c in token_certificates(token, renew_window_days=window):
                if not c.authority:
                    rows.append({"token": info.label, "serial": info.serial, "key": c.key, "usage": _usage(c.info),
                                 "subject": c.info.subject,
                                 "not_after": c.info.not_after.isoformat(), "days_left": c.info.days_left,
                                 "status": c.info.status, "renew_due": c.info.renew_due, "expired": c.info.expired})
        finally:
            token.close()
    emit(rows, lambda: "\n".join(
        f"{r['token']:<16} {r['status']:<10} {r['days_left']:>5} days  {r['usage']:<10} {r['subject']}" for r in rows
    ) or "no holder certificates")


def _usage(info: CertInfo) -> str:
    """``encryption`` for the encryption certificate of a dual-certificate holder, else ``signature``."""
    usage = set(info.key_usage)
    return "encryption" if "key_encipherment" in usage and "digital_signature" not in usage else "signature"


@cert_group.command("export")
@selection_options
@click.option("--key", "selector", required=True, help="Key label, or id:HEX.")
@click.option("--chain", is_flag=True, help="Add the CA certificates the token holds.")
@click.option("--out", default="-", show_default=True, help="File to write, or - for stdout.")
@click.option("--format", "fmt", type=click.Choice(["pem", "der"]), default="pem", show_default=True,
              help="DER holds one certificate: the chain needs PEM.")
@overwrite_option
def cert_export(selector: str, chain: bool, out: str, fmt: str, force: bool) -> None:
    """Export the certificate of a key (and its chain) as PEM or DER."""
    check_output(out, force=force)
    token = open_selected()
    cert = certificate_for_key(token, selector)
    ders = chain_for(token, cert) if chain else [cert.der]
    if fmt == "der" and len(ders) > 1:
        raise click.UsageError("a chain needs --format pem")
    write_output(out, to_pem(ders) if fmt == "pem" else ders[0], force=force)
    if out != "-":
        step(f"{len(ders)} certificate(s) written to {out}")


@cert_group.command("self-sign")
@selection_options
@click.option("--key", "selector", required=True, help="Key label, or id:HEX.")
@click.option("--subject", required=True, help="RFC 4514 subject.")
@click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True)
@click.option("--san", multiple=True, help=SAN_HELP)
@click.option("--out", help="Also write the certificate (PEM) here.")
@overwrite_option
@pin_options("pin", "user PIN")
@pin_options("so-pin", "SO (admin) PIN, for cards that write certificates under it")
@json_option
def cert_self_sign(selector: str, subject: str, days: int, san: tuple[str, ...], out: str | None,
                   force: bool) -> None:
    """Make a self-signed certificate for a key on the token and install it."""
    check_output(out, force=force)
    token = open_selected()
    login(token)
    der = build_self_signed(TokenSigner(token, selector), subject, days, san=san)
    login_for_writes(token)
    installed = install_certificates(token, der, key=selector)
    if out:
        write_output(out, to_pem([der]), force=force)
    emit(installed.to_dict(), _cert_line(installed.certificate))


@click.group("ca")
def ca_group() -> None:
    """A local CA for demos and QA. Not for production: a real CA issues real certificates.

    A real CA is reached by file hand-off: `sitoken csr` writes the request,
    the CA returns a certificate, `sitoken cert import` installs it.

    \b
    Examples:
      sitoken ca init ./demo-ca
      sitoken ca init ./sm2-ca --algorithm sm2        # SM2-with-SM3, signer ID 1234567812345678
      sitoken ca issue ./demo-ca --csr req.pem --days 365 --out issued.pem
    """


@ca_group.command("init")
@click.argument("directory")
@click.option("--name", default="sitoken Local CA", show_default=True)
@click.option("--algorithm", type=click.Choice(["ec", "sm2"]), default="ec", show_default=True,
              help="ec: P-256 ECDSA; sm2: SM2-with-SM3 with signer ID 1234567812345678.")
@click.option("--no-intermediate", is_flag=True, help="Issue from the root directly.")
@json_option
def ca_init(directory: str, name: str, algorithm: str, no_intermediate: bool) -> None:
    """Create a root (and an issuing) CA in DIRECTORY; keys are owner-only files."""
    if algorithm == "sm2":
        from ..certs.sm2ca import Sm2LocalCA

        chain = Sm2LocalCA.init(directory, name=name, with_intermediate=not no_intermediate).chain
    else:
        chain = LocalCA.init(directory, name=name, with_intermediate=not no_intermediate).chain
    root = Path(directory) / "root.pem"
    emit({"directory": directory, "algorithm": algorithm, "chain_length": len(chain)},
         f"local {algorithm} CA created in {directory} ({len(chain)} CA certificate(s)); trust anchor: {root}")


@ca_group.command("issue")
@click.argument("directory")
@click.option("--csr", "csr_file", required=True, help="The request (PEM or DER).")
@click.option("--days", type=click.IntRange(1, 3 * 366), default=365, show_default=True)
@click.option("--profile", type=click.Choice(["personal", "organisation", "server"]), default="personal",
              show_default=True)
@SM2_ID_OPTION
@click.option("--enc-out", help="SM2 CA: also the KMC stand-in's encryption certificate (PEM) for the holder.")
@click.option("--envelope-out", help="With --enc-out: the encryption key, enveloped for the holder's key (DER).")
@click.option("--out", required=True, help="Certificate followed by its chain, PEM.")
@overwrite_option
@json_option
def ca_issue(directory: str, csr_file: str, days: int, profile: str, sm2_id: str | None, enc_out: str | None,
             envelope_out: str | None, out: str, force: bool) -> None:
    """Issue a certificate from a request, after checking the request's signature.

    An SM2 CA (ca init --algorithm sm2) issues SM2 signature certificates (digitalSignature,
    nonRepudiation); --sm2-id is the signer ID the request was signed with. With --enc-out and
    --envelope-out its KMC stand-in also makes the holder's encryption key pair (escrowed in
    DIR/kmc) and its certificate: the dual certificates of a national-algorithm USB-Key.

    \b
    Examples:
      sitoken ca issue ./sm2-ca --csr req.pem --out sign.pem --enc-out enc.pem --envelope-out enc.env
    """
    from ..certs.sm2ca import Sm2LocalCA, is_sm2_ca

    if (enc_out is None) != (envelope_out is None):
        raise click.UsageError("--enc-out and --envelope-out go together")
    outputs = [o for o in (out, enc_out, envelope_out) if o]
    for target in outputs:
        check_output(target, force=force, inputs=[csr_file])
    request = read_input(csr_file)
    doc: dict[str, object] = {"out": out, "days": days, "profile": profile}
    if is_sm2_ca(directory):
        ca = Sm2LocalCA.open(directory)
        leaf, chain = ca.issue(request, days=days, profile=profile, request_id=sm2_id_bytes(sm2_id))
        if enc_out and envelope_out:
            delivery = ca.issue_encryption_pair(leaf, days=days)
            write_output(enc_out, to_pem([delivery.certificate, *delivery.chain]), force=force, inputs=[csr_file])
            write_output(envelope_out, delivery.envelope, force=force, inputs=[csr_file])
            doc |= {"enc_out": enc_out, "envelope_out": envelope_out, "escrow_ref": delivery.escrow_ref}
    elif enc_out:
        raise click.UsageError("--enc-out needs an SM2 CA (ca init --algorithm sm2)")
    else:
        leaf, chain = LocalCA.open(directory).issue(request, days=days, profile=profile)
    write_output(out, to_pem([leaf, *chain]), force=force, inputs=[csr_file])
    emit(doc, f"issued ({profile}, {days} days): {', '.join(outputs)}")
