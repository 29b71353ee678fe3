"""sitoken web: the native-messaging host for the browser extension, and installing its manifests."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import InvalidInput
from .common import emit, json_option, selection_options, state


@click.group("web")
def web_group() -> None:
    """The browser channel: a native-messaging host that portals reach through the sitoken extension.

    \b
    Examples:
      sitoken --pinentry pinentry-gnome3 web install
      sitoken --pinentry pinentry-gnome3 web install --browser chromium --user-data-dir /tmp/profile
      sitoken web install --uninstall
    """


@web_group.command("host")
@selection_options
@click.option("--audit-log", type=click.Path(dir_okay=False), help="Append one line per request (never a PIN).")
@click.argument("browser_args", nargs=-1)
def host(audit_log: str | None, browser_args: tuple[str, ...]) -> None:
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
    web_host = WebHost(lambda: open_token(st.token, module=st.module), PinentryDialog(st.pinentry),
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
@click.option("--uninstall", is_flag=True, help="Remove the manifest and launcher instead.")
def install(browser: str, user_data_dir: str | None, system: bool, extension_ids: tuple[str, ...],
            audit_log: str | None, uninstall: bool) -> None:
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
    setup.install(files, _host_command(audit_log), extension_ids)
    emit({"installed": True, **files.to_dict()}, f"host manifest {files.manifest}\nlauncher {files.launcher}")


def _host_command(audit_log: str | None) -> list[str]:
    st = state()
    if not st.pinentry:
        raise InvalidInput("the host asks PINs in a dialog: give --pinentry PROGRAM (e.g. pinentry-gnome3)")
    command = [sys.executable, "-m", "sitoken", "--pinentry", st.pinentry]
    command += ["--module", st.module] if st.module else []
    command += ["--token", st.token] if st.token else []
    command += ["web", "host"]
    return command + (["--audit-log", str(Path(audit_log).absolute())] if audit_log else [])
