"""CLI: signing and verification, raw or as CMS SignedData."""

from __future__ import annotations

import click

from ..errors import SignatureInvalid, TokenError
from ..token import KeyType, Mechanism, Token
from .actions import public_key_file, raw_signature, report_signature, signing_mechanism, verdict, verify_raw
from .common import (
    MECHANISMS,
    SM2_ID_OPTION,
    check_output,
    cms_der,
    final_try_option,
    json_option,
    login,
    open_selected,
    overwrite_option,
    pin_options,
    read_input,
    selection_options,
    sm2_id_bytes,
    state,
    write_output,
)


@click.command("sign")
@selection_options
@click.option("--key", "selector", required=True, help="Key label, or id:HEX.")
@click.option("--in", "in_", required=True, help="File to sign, or - for stdin.")
@click.option("--out", "out", required=True, help="Signature file, or - for stdout.")
@click.option("--mechanism", type=MECHANISMS, help="Signature scheme (default: the key type's).")
@click.option("--raw-ecdsa", is_flag=True, help="ECDSA or SM2 signature as raw r||s instead of DER.")
@SM2_ID_OPTION
@click.option("--cms", is_flag=True, help="Write CMS SignedData (DER) with the key's certificate and chain.")
@click.option("--attached", is_flag=True, help="With --cms: carry the content inside the signature.")
@click.option("--gmt0010", is_flag=True,
              help="With --cms on an SM2 key: GM/T 0010 content types (1.2.156.10197.6.1.4.2.x) and SM2-1.")
@overwrite_option
@pin_options("pin", "user PIN")
@final_try_option
@json_option
def sign(selector: str, in_: str, out: str, mechanism: str | None, raw_ecdsa: bool, sm2_id: str | None, cms: bool,
         attached: bool, gmt0010: bool, force: bool, allow_final_try: bool) -> None:
    """Sign a file with a key on the token.

    \b
    Examples:
      sitoken sign --key sign-key --in contract.pdf --out contract.sig --pin-env PIN
      sitoken sign --key rsa-key --mechanism rsa-pss-sha256 --in data --out data.sig
      sitoken sign --key sign-key --cms --in contract.pdf --out contract.p7s   # needs the key's certificate
      sitoken sign --module skf --token KEY1 --key sign --cms --gmt0010 --in contract.pdf --out contract.p7s
    """
    if gmt0010 and not cms:
        raise click.UsageError("--gmt0010 names CMS content types: use it with --cms")
    check_output(out, force=force, inputs=[in_])
    token = open_selected()
    token.sm2_id = sm2_id_bytes(sm2_id)
    data = read_input(in_)
    login(token, allow_final_try)
    key_type, mech = signing_mechanism(token, selector, mechanism)
    if cms:
        signature = _cms_signature(token, selector, data, mech, attached, gmt0010)
    else:
        signature = raw_signature(token, selector, data, mech, key_type, raw_ecdsa)
    write_output(out, signature, force=force, inputs=[in_])
    kind = "cms-attached" if cms and attached else "cms-detached" if cms else "raw"
    report_signature(state(), selector, mech, kind, signature, in_, out)


def _cms_signature(token: Token, selector: str, data: bytes, mech: Mechanism, attached: bool,
                   gmt0010: bool) -> bytes:
    # CMS pulls in certificates and asn1crypto's CMS: loaded here, so a raw signature does not pay.
    from ..certs.ontoken import TokenSigner, certificate_for_key, chain_for
    from ..signing.cms import sign_cms

    cert = certificate_for_key(token, selector)
    chain = chain_for(token, cert)[1:]
    return sign_cms(TokenSigner(token, selector), cert.der, data, chain=chain, detached=not attached, mechanism=mech,
                    gmt0010=gmt0010)


@click.command("verify")
@selection_options
@click.option("--key", "selector", help="Key label or id:HEX on the token.")
@click.option("--pubkey", "pubkey_file", help="Verify with this public key file (PEM/DER) instead.")
@click.option("--in", "in_", help="The signed file, or - for stdin (not needed for attached CMS).")
@click.option("--sig", "sig", required=True, help="The signature file.")
@click.option("--mechanism", type=MECHANISMS, help="Signature scheme (default: the key type's).")
@click.option("--raw-ecdsa", is_flag=True, help="The ECDSA or SM2 signature is raw r||s.")
@SM2_ID_OPTION
@click.option("--on-token", is_flag=True, help="Let the token verify instead of the host.")
@click.option("--cms", is_flag=True, help="The signature is CMS SignedData (DER or PEM).")
@click.option("--trust", "trust_file", help="With --cms: trust anchors (PEM/DER); default: the token's certificates.")
@json_option
def verify(selector: str | None, pubkey_file: str | None, in_: str | None, sig: str, mechanism: str | None,
           raw_ecdsa: bool, sm2_id: str | None, on_token: bool, cms: bool, trust_file: str | None) -> None:
    """Verify a signature. Exits 0 when valid and 1 when not.

    \b
    Examples:
      sitoken verify --key sign-key --in contract.pdf --sig contract.sig
      sitoken verify --pubkey sign-key.pem --in contract.pdf --sig contract.sig
      sitoken verify --cms --trust root.pem --in contract.pdf --sig contract.p7s
    """
    if cms:
        _verify_cms(in_, sig, trust_file, sm2_id_bytes(sm2_id))
        return
    if in_ is None:
        raise click.UsageError("--in is needed to verify a raw signature")
    data, signature = read_input(in_), read_input(sig)
    spki, key_type, token = _verification_key(selector, pubkey_file)
    valid, mech = verify_raw(spki, key_type, data, signature, mechanism, raw_ecdsa, sm2_id_bytes(sm2_id),
                             token if on_token else None, selector)
    _verdict(valid, {"valid": valid, "mechanism": mech.value, "verified_by": "token" if on_token else "host"})


def _verdict(valid: bool, doc: dict[str, object], reason: str = "") -> None:
    status = verdict(state(), valid, doc, reason)
    if status:
        # The verdict is already printed (one JSON document with --json): exit 1 and nothing more.
        click.get_current_context().exit(status)


def _verify_cms(in_: str | None, sig: str, trust_file: str | None, sm2_id: bytes | None) -> None:
    data = read_input(in_) if in_ else None
    from ..certs import load_certificates
    from ..signing.cms import verify_cms

    trust = load_certificates(read_input(trust_file)) if trust_file else _token_trust()
    try:
        result = verify_cms(cms_der(read_input(sig)), data, trust=trust, sm2_id=sm2_id)
    except SignatureInvalid as exc:
        _verdict(False, {"valid": False, "reason": str(exc)}, str(exc))
        return
    _verdict(True, {"valid": True, "signer": result.signer_subject, "mechanism": result.mechanism.value,
                    "signing_time": result.signing_time.isoformat() if result.signing_time else None,
                    "detached": result.detached,
                    "other_attributes": [a.oid for a in result.other_attributes]})


def _token_trust() -> list[bytes]:
    """Without --trust, the certificates on the selected token are the anchors."""
    try:
        token = open_selected()
    except TokenError as exc:
        raise click.UsageError(f"give --trust CA.pem (no token to take trust anchors from: {exc})") from None
    return [c.der for c in token.certificates()]


def _verification_key(selector: str | None, pubkey_file: str | None) -> tuple[bytes, KeyType | None, Token | None]:
    if pubkey_file:
        return (*public_key_file(pubkey_file), None)
    if not selector:
        raise click.UsageError("give --key (a key on the token) or --pubkey FILE")
    token = open_selected()
    return token.public_key_der(selector), token.find_key(selector).key_type, token
