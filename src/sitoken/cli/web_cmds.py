"""sitoken web: the native-messaging host for the browser extension, and installing its manifests."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import InvalidInput
from ..pin import SO_PIN_POLICY, PinPolicy
from .common import emit, json_option, pin_options, read_pin, selection_options, state, step

if TYPE_CHECKING:
    from ..certs import LocalCA

# Seconds a PIN dialog of the web host waits for the holder: a minute to find the USB-Key and type,
# and a dialog left open does not keep the host (and the page's request) waiting forever.
PIN_TIMEOUT = 60


@click.group("web")
def web_group() -> None:
    """The browser channel: a native-messaging host that portals reach through the sitoken extension.

    \b
    Examples:
      sitoken --pinentry pinentry-gnome3 web install
      sitoken --pinentry pinentry-gnome3 web install --browser chromium --user-data-dir /tmp/profile
      sitoken web install --uninstall
      sitoken web demo                   # a demo portal at https://portal.test:8443/
    """


@web_group.command("host")
@selection_options
@click.option("--audit-log", type=click.Path(dir_okay=False), help="Append one line per request (never a PIN).")
@click.option("--pin-timeout", type=click.IntRange(1, 3600), default=PIN_TIMEOUT, show_default=True, metavar="SECONDS",
              help="A PIN dialog nobody answers closes after this long; the page gets `timeout`.")
@click.argument("browser_args", nargs=-1)
def host(audit_log: str | None, pin_timeout: int, browser_args: tuple[str, ...]) -> None:
    """Run as the browser's native-messaging host on stdin/stdout (the browser starts it).

    The browser passes the calling extension's origin (Chromium) or the manifest path and
    extension ID (Firefox) as arguments; they are accepted and not trusted for anything. PINs
    are asked with the --pinentry program, never through the page.
    """
    from ..discovery import open_token
    from ..pinentry import PinentryDialog  # the library's: a closed dialog reaches the page as "cancelled"
    from ..provisioning.audit import AuditLog
    from ..web.host import WebHost, serve

    st = state()
    if not st.pinentry:
        raise InvalidInput("the web host asks PINs in a dialog: give --pinentry PROGRAM (e.g. pinentry-gnome3)")
    web_host = WebHost(lambda: open_token(st.token, module=st.module), PinentryDialog(st.pinentry, pin_timeout),
                       AuditLog(audit_log) if audit_log else None)
    sys.exit(serve(web_host))


@web_group.command("install")
@selection_options
@json_option
@click.option("--browser", type=click.Choice(["chromium", "chrome", "firefox"]), default="chromium", show_default=True)
@click.option("--user-data-dir", type=click.Path(file_okay=False),
              help="A Chromium/Chrome profile started with --user-data-dir.")
@click.option("--system", is_flag=True, help="For every user of the machine (the browser's system directory).")
@click.option("--extension-id", "extension_ids", multiple=True,
              help="An extension allowed to start the host (repeatable; default: sitoken's own, web/extension).")
@click.option("--audit-log", type=click.Path(dir_okay=False), help="The host's audit log (default: none).")
@click.option("--pin-timeout", type=click.IntRange(1, 3600), default=PIN_TIMEOUT, show_default=True, metavar="SECONDS",
              help="The host's --pin-timeout: how long a PIN dialog waits for the holder.")
@click.option("--uninstall", is_flag=True, help="Remove the manifest and launcher instead.")
def install(browser: str, user_data_dir: str | None, system: bool, extension_ids: tuple[str, ...],
            audit_log: str | None, pin_timeout: int, uninstall: bool) -> None:
    """Write (or remove) the host manifest and its launcher where the browser looks for them.

    The launcher runs this Python with the --module, --token and --pinentry given here.
    """
    from ..web import install as setup

    files = setup.host_files(browser, setup.manifest_directory(browser, user_data_dir=user_data_dir, system=system))
    if uninstall:
        removed = setup.uninstall(files)
        emit({"removed": [str(p) for p in removed], **files.to_dict()},
             "\n".join(f"removed {p}" for p in removed) or "nothing was installed there")
        return
    setup.install(files, _host_command(audit_log, pin_timeout), extension_ids)
    emit({"installed": True, **files.to_dict()}, f"host manifest {files.manifest}\nlauncher {files.launcher}")


def _host_command(audit_log: str | None, pin_timeout: int) -> list[str]:
    st = state()
    if not st.pinentry:
        raise InvalidInput("the host asks PINs in a dialog: give --pinentry PROGRAM (e.g. pinentry-gnome3)")
    command = [sys.executable, "-m", "sitoken", "--pinentry", st.pinentry]
    command += ["--module", st.module] if st.module else []
    command += ["--token", st.token] if st.token else []
    command += ["web", "host", "--pin-timeout", str(pin_timeout)]
    return command + (["--audit-log", str(Path(audit_log).absolute())] if audit_log else [])


@web_group.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8443, show_default=True,
              help="The port to listen on (0: any free one).")
@click.option("--name", "host_name", default="portal.test", show_default=True,
              help="The portal's host name: its HTTPS certificate and the origin tokens are checked against.")
@click.option("--dir", "directory", type=click.Path(file_okay=False),
              help="The demo's local CA and HTTPS certificate (default: ~/.local/share/sitoken/web-demo).")
@pin_options("so-pin", "SO PIN")
@pin_options("pin", "user PIN")
@json_option
def demo(host: str, port: int, host_name: str, directory: str | None) -> None:
    """Run a demo portal over HTTPS: login and document signing with a simulated USB-Key.

    The first run makes the simulated token (--token, default web-demo; its PINs are asked),
    a local CA and a holder certificate on the token, and a self-signed HTTPS certificate
    for --name. It prints the URL and how to open it in Chromium, then serves until Ctrl-C.

    \b
    Examples:
      sitoken web demo
      sitoken web demo --name portal.test --port 8443
      SO=... PIN=... sitoken --token counter-demo web demo --so-pin-env SO --pin-env PIN --json
    """
    from ..web import check_origin
    from ..web import demo as portal

    check_origin(f"https://{host_name}")  # before anything is made for it
    st = state()
    root = Path(directory) if directory else _default_demo_directory()
    label = st.token or "web-demo"
    ca = _demo_holder(label, root / "ca")
    tls = portal.tls_files(root / "tls", host_name)
    try:
        server = portal.DemoServer([ca.chain], (host, port), host_name, tls)
    except OSError as exc:
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    info = portal.describe(server, tls, label, root / "chromium-profile")
    emit(info, lambda: _demo_text(info, st.pinentry or "pinentry-gnome3"))
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _default_demo_directory() -> Path:
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(data) / "sitoken" / "web-demo"


def _demo_holder(label: str, ca_directory: Path) -> LocalCA:
    """The demo CA, and the simulated token ``label`` with a holder certificate of it (made when missing)."""
    from ..certs import LocalCA
    from ..discovery import create_simulated_token, list_tokens, open_token
    from ..web.demo import enrol_holder, holder_certificate

    ca = LocalCA.open(ca_directory) if ca_directory.exists() else LocalCA.init(ca_directory, name="sitoken Web Demo CA")
    user_pin = None
    if not any(t.label == label for t in list_tokens("sim")):
        step(f"creating the simulated token {label!r} ...")
        with read_pin("so-pin", "SO PIN", new=True, policy=SO_PIN_POLICY) as so_pin:
            user_pin = read_pin("pin", "user PIN", new=True, policy=PinPolicy())
            create_simulated_token(label, so_pin, user_pin)
    with open_token(label, module="sim") as token:
        if holder_certificate(token, ca) is None:
            step(f"issuing the demo holder's certificate onto {label!r} ...")
            with user_pin or read_pin("pin", "user PIN") as pin:
                token.login(pin)
            try:
                enrol_holder(token, ca)
            finally:
                token.logout()
    return ca


def _demo_text(info: dict[str, Any], pinentry: str) -> str:
    chromium = " ".join(shlex.quote(arg) for arg in info["chromium"])
    profile = info["chromium"][0].split("=", 1)[1]
    return "\n".join([
        f"sitoken demo portal: {info['url']} (listening on {info['listening']}; Ctrl-C stops it)",
        f"The holder's simulated USB-Key is {info['token']!r}. Let the browser reach it (once):",
        f"  sitoken --pinentry {pinentry} --module sim --token {shlex.quote(info['token'])} web install "
        f"--user-data-dir {shlex.quote(profile)}",
        "Then open the portal in Chromium (the test name mapped, its self-signed certificate trusted):",
        f"  chromium {chromium}",
    ])
