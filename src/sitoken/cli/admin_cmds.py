"""CLI: diagnostics (doctor) and the simulated token store (sim)."""

from __future__ import annotations

import importlib.util
import os
import platform
from importlib import metadata

import click

from .. import __version__, skf
from ..discovery import (
    card_selected,
    create_simulated_skf,
    create_simulated_token,
    list_tokens,
    load_module,
    skf_selected,
)
from ..errors import SitokenError
from ..pin import SO_PIN_POLICY, PinPolicy
from ..pkcs11 import discover_modules, resolve_module
from ..pkcs11.softhsm import active_store_conf, delete_token
from ..provisioning.journal import journal_location, journal_report
from .actions import token_dict
from .common import (
    confirm,
    device_key_options,
    emit,
    force_option,
    json_option,
    open_selected,
    pin_options,
    read_device_key,
    read_pin,
    selection_options,
    state,
    step,
)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def native_report() -> dict[str, object]:
    """Which signing path is active, and why (the native layer may be absent)."""
    try:
        from .._native_loader import native_status
    except ImportError:
        return {"active": False, "reason": "this build has no native layer; the Python path is used"}
    status = native_status()
    return {"active": status.active, "reason": status.reason, "version": status.version}


def _selected_report() -> dict[str, object]:
    st = state()
    report: dict[str, object] = {}
    try:
        if skf_selected(st.module, st.token):
            library = skf.resolve_library(st.module or os.environ.get("SITOKEN_MODULE") or "skf")
            report["module"] = {**library.to_dict(), "kind": "skf"}
        elif card_selected(st.token):
            report["module"] = {"kind": "pcsc"}  # the card driver speaks to the reader itself
        else:
            choice = resolve_module(st.module)
            report["module"] = {**choice.to_dict(), **load_module(st.module).description, "kind": "pkcs11"}
        token = open_selected()
        report["token"] = token.info().to_dict()
        report["capabilities"] = token.capabilities.to_dict()
        report["misplaced_certificates"] = [m.to_dict() for m in token.misplaced_certificates()]
    except SitokenError as exc:
        report["problem"] = exc.to_dict()
    return report


@click.command("doctor")
@selection_options
@json_option
def doctor() -> None:
    """Say what sitoken sees: module, token, capabilities, versions, signing path."""
    report = {
        "sitoken": __version__,
        "python": platform.python_version(),
        "packages": {d: _version(d) for d in ("python-pkcs11", "cryptography", "asn1crypto", "cffi", "pyscard")},
        "pcsc_available": importlib.util.find_spec("smartcard") is not None,
        "modules_found": [m.to_dict() for m in discover_modules()],
        "skf_libraries_found": [lib.to_dict() for lib in skf.discover_libraries()],
        "native": native_report(),
        "journal": journal_report(journal_location()),
        **_selected_report(),
    }
    emit(report, lambda: _doctor_text(report))


def _journal_line(j: dict[str, object]) -> str:
    schema = j.get("schema", "?") if j.get("exists", True) else "none yet"
    line = f"journal: {j['backend']} at {j['where']}, schema {schema} (this sitoken: {j['schema_needed']})"
    return line + (f": {j['problem']}" if "problem" in j else "")


def _doctor_text(r: dict[str, object]) -> str:
    lines = [f"sitoken {r['sitoken']} on Python {r['python']}"]
    lines += [f"  {name}: {ver or 'not installed'}" for name, ver in r["packages"].items()]  # type: ignore[attr-defined]
    native = r["native"]
    lines.append(f"signing path: {'native (cffi)' if native['active'] else 'Python'}: {native['reason']}")  # type: ignore[index]
    lines.append("modules found: " + ", ".join(f"{m['name']} ({m['path']})" for m in r["modules_found"]))  # type: ignore[attr-defined]
    lines.append("SKF libraries found: " + (", ".join(f"{m['name']} ({m['path']})"
                                                      for m in r["skf_libraries_found"]) or "none"))  # type: ignore[attr-defined]
    lines.append(_journal_line(r["journal"]))  # type: ignore[arg-type]
    m = r.get("module")
    if isinstance(m, dict) and m.get("kind") == "skf":
        lines.append(f"SKF library in use: {m['path']} ({m['source']})")
    elif isinstance(m, dict) and m.get("kind") == "pcsc":
        lines.append("card in a PC/SC reader: no PKCS#11 module in use")
    elif isinstance(m, dict):
        lines.append(f"module in use: {m['path']} ({m['source']}), {m['manufacturer']} {m['library_version']}, "
                     f"OS locking {'on' if m['os_locking'] else 'off'}, binding {m['binding']}")
    if "token" in r:
        t, c = r["token"], r["capabilities"]
        lines.append(f"token: {t['label']} (serial {t['serial']})")  # type: ignore[index]
        lines.append(f"  key types: {', '.join(c['key_types'])}")  # type: ignore[index]
        lines.append(f"  mechanisms: {', '.join(c['mechanisms'])}")  # type: ignore[index]
        lines.append(f"  exact PIN retries: {'yes' if c['exact_retries'] else 'no (flags only)'}")  # type: ignore[index]
        for m in r.get("misplaced_certificates", []):  # type: ignore[attr-defined]
            lines.append(f"  misplaced: the certificate of key {m['belongs_to']} is stored where other programs look "
                         f"for key {m['stored_under']}'s (an older sitoken wrote it there); "
                         "move it with 'sitoken cert import --move-misplaced' (admin PIN)")
    if "problem" in r:
        lines.append(f"problem: {r['problem']['message']}")  # type: ignore[index]
    return "\n".join(lines)


@click.group("sim")
def sim_group() -> None:
    """The simulated USB-Key: SoftHSM tokens in sitoken's own store, no hardware needed.

    The store is $SITOKEN_SIM_DIR (default ~/.local/share/sitoken/softhsm),
    or the store SOFTHSM2_CONF names when that is set.

    \b
    Examples:
      sitoken sim create demo            # asks for the SO PIN and the user PIN
      SO=... PIN=... sitoken sim create demo --so-pin-env SO --pin-env PIN
      sitoken sim list --json
      sitoken sim delete demo --force
      sitoken sim create --skf ukey1     # a device and application on the software SKF token
    """


@sim_group.command("create")
@click.argument("label")
@click.option("--skf", "on_skf", is_flag=True,
              help="Make a device LABEL with an application LABEL on the software SKF token.")
@pin_options("so-pin", "SO PIN")
@pin_options("pin", "user PIN")
@device_key_options
@json_option
def sim_create(label: str, on_skf: bool) -> None:
    """Create a simulated token with its SO PIN and user PIN.

    With --skf the token is an SKF device on the software SKF token (select it
    with --module skf --token LABEL); its device key is the factory key unless
    --device-key-env/--device-key-file gives one.
    """
    so_pin = read_pin("so-pin", "SO PIN", new=True, policy=SO_PIN_POLICY)
    user_pin = read_pin("pin", "user PIN", new=True, policy=PinPolicy())
    with so_pin, user_pin:
        if on_skf:
            step(f"creating software SKF device {label!r} ...")
            info = create_simulated_skf(label, so_pin, user_pin, device_key=read_device_key())
        else:
            step(f"creating simulated token {label!r} in {active_store_conf()} ...")
            info = create_simulated_token(label, so_pin, user_pin)
    emit(token_dict(info), f"simulated token {info.label} created (serial {info.serial})")


@sim_group.command("list")
@json_option
def sim_list() -> None:
    """List the simulated tokens."""
    infos = list_tokens("sim")
    emit([token_dict(t) for t in infos],
         lambda: "\n".join(f"{t.label:<20} serial {t.serial}" for t in infos) or "no simulated tokens")


@sim_group.command("delete")
@click.argument("label")
@force_option
@json_option
def sim_delete(label: str, force: bool) -> None:
    """Delete a simulated token and everything on it."""
    confirm(f"Delete simulated token {label!r} and all its keys?", force)
    delete_token(label)
    emit({"deleted": label}, f"simulated token {label} deleted")
