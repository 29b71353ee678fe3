"""A private PostgreSQL server for the journal's tests: initdb + pg_ctl on a Unix socket.

The server stands for a hall's database server. It listens on no TCP port, only on a socket in
its own directory, so several beds (and several checkouts' test runs) never meet. PostgreSQL
refuses to run as root, so when the suite runs as root (CI does) the cluster belongs to the
``postgres`` system user that Debian's package creates, and the bed drops to it for initdb,
pg_ctl and psql; otherwise the cluster belongs to the suite's own user.

Where a test needs TLS, the bed restarts with a ``TlsListener``: then it also listens on
127.0.0.1 at that listener's port, with ``ssl=on`` and the certificate the test made, and its
host-based rules (``tls/pg_hba.conf``) let a TCP connection in only over TLS and with the
role's password; the Unix socket (then named after that port) keeps trusting local users.

Layout of the bed directory::

    data/       the cluster (initdb)
    sock/       the server's Unix socket (.s.PGSQL.<port>)
    server.log  the server's own log
    tls/        while listening with TLS: the server's certificate, key and pg_hba.conf

Command line (for QA poking at a bed by hand)::

    python -m testbed.pg_bed start DIR     # prints the journal URL
    python -m testbed.pg_bed stop DIR
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from testbed.lifeline import Lifeline

DATABASE = "sitoken"
# The port only names the socket file; nothing listens on TCP (listen_addresses is empty).
PORT = 5432


class PgBedUnavailable(RuntimeError):
    """PostgreSQL's server programs are not installed here (Debian package postgresql)."""


class PgBedError(RuntimeError):
    """The server did not start or stop as asked; the message carries its log's tail."""


def server_bin_dir() -> Path:
    """The newest installed PostgreSQL server's bin directory (Debian keeps one per version)."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not candidates:
        raise PgBedUnavailable("PostgreSQL server not found (apt package postgresql)")
    return candidates[-1].parent


def _server_user() -> str | None:
    """The account the server runs as: None for the current user, 'postgres' under root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PgBedUnavailable("running as root and no 'postgres' user to run the server") from exc
    return "postgres"


@dataclass(frozen=True)
class TlsListener:
    """TCP on 127.0.0.1:``port`` with TLS: the server's certificate (PEM, for ``localhost`` and
    127.0.0.1) and its private key, both made by the test (its own private CA)."""

    cert: Path
    key: Path
    port: int


# While the bed listens on TCP: TLS and the role's password there, trust on the private socket.
_TLS_HBA = """\
local   all all                trust
hostssl all all 127.0.0.1/32   scram-sha-256
"""


@dataclass
class PgBed:
    """One private cluster in ``directory``; start() is idempotent, stop() always cleans up."""

    directory: Path
    #: Set by ``restart(tls=...)``; None: the Unix socket alone, as the bed starts.
    tls: TlsListener | None = None

    @property
    def port(self) -> int:
        """The server's port: names the socket file, and is the TCP port while TLS is on."""
        return self.tls.port if self.tls else PORT

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def socket_dir(self) -> Path:
        return self.directory / "sock"

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    def url(self, database: str = DATABASE) -> str:
        """The libpq URL of the bed's database, for ``--journal`` / ``SITOKEN_JOURNAL``."""
        return f"postgresql:///{database}?host={self.socket_dir}&port={self.port}&user={self.user}"

    @property
    def user(self) -> str:
        """The role the bed's URLs log in as: the cluster's owner."""
        return _server_user() or pwd.getpwuid(os.geteuid()).pw_name

    def tls_url(self, database: str, root: Path) -> str:
        """The URL of ``database`` over TCP and TLS, verified against the root certificate ``root``
        (the password comes from libpq's password file, never from the URL)."""
        if self.tls is None:
            raise PgBedError("the bed listens on no TCP port: restart(tls=...) first")
        return (f"postgresql://localhost:{self.tls.port}/{database}?user={self.user}"
                f"&sslmode=verify-full&sslrootcert={root}")

    def _run(self, argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        user = _server_user()
        full = [*(["runuser", "-u", user, "--"] if user else []), *argv]
        done = subprocess.run(full, capture_output=True, text=True, timeout=60, check=False)
        if check and done.returncode != 0:
            raise PgBedError(f"{Path(argv[0]).name} failed: {done.stderr.strip()}{self._log_tail()}")
        return done

    def _log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()[-8:]
        except OSError:
            return ""
        return "\n  server log: " + "\n  ".join(lines) if lines else ""

    def _prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        user = _server_user()
        if user:
            entry = pwd.getpwnam(user)
            # The server's account must reach its directories (a temporary parent may be 0700).
            for path in (self.directory, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            _open_parents_for(self.directory)

    def start(self) -> str:
        """Start the server (initialising the cluster on first use); returns the URL."""
        bindir = server_bin_dir()
        self._prepare()
        if not (self.data / "PG_VERSION").exists():
            self._run([str(bindir / "initdb"), "-D", str(self.data), "-A", "trust",
                       "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        if not self.running():
            # fsync off: a commit still reaches the kernel before it returns, so the data
            # survives a killed server (the crash tests); only a machine crash could lose it.
            options = (f"-k {self.socket_dir} -p {self.port} -c listen_addresses='' "
                       "-c fsync=off -c full_page_writes=off" + self._tls_options())
            self._run([str(bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                       "-o", options, "-w", "-t", "30", "start"])
        self._ensure_database(bindir)
        return self.url()

    def restart(self, tls: TlsListener | None = None) -> str:
        """Stop, then start with TLS on 127.0.0.1 (``tls``) or on the Unix socket alone (None)."""
        self.stop("fast")
        self.tls = tls
        return self.start()

    def _tls_options(self) -> str:
        """The server options of a TLS listener; its files copied where the server's account owns them."""
        if self.tls is None:
            return ""
        folder = self.directory / "tls"
        folder.mkdir(mode=0o700, exist_ok=True)
        (folder / "server.pem").write_bytes(self.tls.cert.read_bytes())
        (folder / "server.key").write_bytes(self.tls.key.read_bytes())
        (folder / "pg_hba.conf").write_text(_TLS_HBA)
        user = _server_user()
        for path in (folder, *folder.iterdir()):
            path.chmod(0o700 if path.is_dir() else 0o600)  # the server refuses a key others may read
            if user:
                os.chown(path, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
        return (f" -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file={folder / 'server.pem'}"
                f" -c ssl_key_file={folder / 'server.key'} -c hba_file={folder / 'pg_hba.conf'}")

    def _ensure_database(self, bindir: Path) -> None:
        psql = [str(bindir / "psql"), "-h", str(self.socket_dir), "-p", str(self.port),
                "-d", "postgres", "-tAc"]
        found = self._run([*psql, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"])
        if found.stdout.strip() != "1":
            self._run([*psql, f"CREATE DATABASE {DATABASE}"])

    def running(self) -> bool:
        if not (self.data / "PG_VERSION").exists():
            return False
        done = self._run([str(server_bin_dir() / "pg_ctl"), "-D", str(self.data), "status"],
                         check=False)
        return done.returncode == 0

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: 'fast' as an operator would, 'immediate' as a crash would."""
        if self.running():
            self._run([str(server_bin_dir() / "pg_ctl"), "-D", str(self.data), "-m", mode,
                       "-w", "-t", "30", "stop"])

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def lifeline(self) -> Lifeline:
        """Destroy the bed when this process ends, however it ends (see ``lifeline``)."""
        return Lifeline([sys.executable, "-m", "testbed.pg_bed", "destroy", str(self.directory)])


def _open_parents_for(directory: Path) -> None:
    """Let the server's account traverse the bed's parents (search bit only, no listing)."""
    for parent in [directory, *directory.parents]:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.pg_bed", description=__doc__)
    parser.add_argument("action", choices=["start", "stop", "destroy", "url"])
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    bed = PgBed(args.directory.resolve())
    try:
        if args.action == "start":
            print(bed.start())
        elif args.action == "url":
            print(bed.url())
        elif args.action == "stop":
            bed.stop()
        else:
            bed.destroy()
    except (PgBedUnavailable, PgBedError) as exc:
        print(f"pg_bed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
