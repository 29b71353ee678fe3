"""TLS to the hall's journal server: verified against the hall's own root, refused otherwise.

The test makes a private CA with openssl, and a server certificate for ``localhost`` signed by
it; the suite's shared server restarts once for this module with ``ssl=on``, listening on
127.0.0.1 where only TLS with the role's password gets in (the password from a libpq password
file, never a URL or argv), and once more at the end, back to its Unix socket alone.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from testbed.pg_bed import PgBed, TlsListener

from pg_support import psql
from sitoken.errors import JournalUnreachable
from sitoken.provisioning.journal import Journal
from sitoken.provisioning.journal_store import SCHEMA_VERSION

DATABASE = f"tls{os.getpid()}"


@dataclass(frozen=True)
class TlsHall:
    bed: PgBed
    root: Path  # the hall's CA certificate: what a counter trusts
    stranger: Path  # another CA's certificate: what must not be trusted
    env: dict[str, str]  # PGPASSFILE: the role's password, as ~/.pgpass would hold it
    password: str


def openssl(*args: str) -> None:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    """A private CA: (certificate, key), P-256, valid two days."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key),
            "-out", str(cert), "-days", "2", "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return cert, key


def make_server_cert(directory: Path, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    """The journal server's certificate for localhost and 127.0.0.1, signed by ``ca``."""
    cert, key, request = directory / "server.pem", directory / "server.key", directory / "server.csr"
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key),
            "-out", str(request), "-subj", "/CN=localhost")
    extensions = directory / "server.ext"
    extensions.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                          "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", str(request), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
            "-out", str(cert), "-days", "2", "-extfile", str(extensions))
    return cert, key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def tls_hall(pg_bed: PgBed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsHall]:
    folder = tmp_path_factory.mktemp("hall-tls")
    root = make_ca(folder, "hall-root")
    stranger, _ = make_ca(folder, "stranger-root")
    cert, key = make_server_cert(folder, root)
    password = secrets.token_urlsafe(16)
    psql(pg_bed, "postgres", f"ALTER ROLE \"{pg_bed.user}\" PASSWORD '{password}'")
    psql(pg_bed, "postgres", f"CREATE DATABASE {DATABASE}")
    with Journal.for_migration(pg_bed.url(DATABASE)) as journal:
        journal.store.migrate()
    passfile = folder / "pgpass"
    passfile.write_text(f"localhost:*:*:{pg_bed.user}:{password}\n")
    passfile.chmod(0o600)
    pg_bed.restart(TlsListener(cert, key, free_port()))
    try:
        yield TlsHall(pg_bed, root[0], stranger, {"PGPASSFILE": str(passfile)}, password)
    finally:
        pg_bed.restart(None)  # back to the Unix socket alone, for the rest of the run


def test_a_counter_reaches_the_journal_over_verified_tls(tls_hall: TlsHall, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in tls_hall.env.items():
        monkeypatch.setenv(name, value)
    url = tls_hall.bed.tls_url(DATABASE, tls_hall.root)
    with Journal(url) as journal:
        assert journal.schema_version() == SCHEMA_VERSION
        (in_use,) = journal.store.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert in_use is True
    plain = url.replace("sslmode=verify-full", "sslmode=disable")
    with pytest.raises(JournalUnreachable, match="no encryption"):  # the server lets no plain TCP in
        Journal(plain)


def journal_show(journal: str, env: dict[str, str]) -> Result:
    """``sitoken journal show --json`` (in this process: libpq reads the environment given)."""
    from sitoken.cli import cli

    return CliRunner().invoke(cli, ["journal", "show", "--journal", journal, "--json"], env=env)


def test_tls_settings_from_a_service_file_for_the_command_line(tls_hall: TlsHall, tmp_path: Path) -> None:
    service = tmp_path / "pg_service.conf"
    service.write_text(f"[hall]\nhost=localhost\nport={tls_hall.bed.port}\ndbname={DATABASE}\n"
                       f"user={tls_hall.bed.user}\nsslmode=verify-full\nsslrootcert={tls_hall.root}\n")
    shown = journal_show("postgresql://?service=hall", {**tls_hall.env, "PGSERVICEFILE": str(service)})
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["enrolments"] == []


def test_a_server_certificate_from_another_root_is_refused_plainly(tls_hall: TlsHall) -> None:
    # The password is in the URL here, to show that no message carries it.
    url = tls_hall.bed.tls_url(DATABASE, tls_hall.stranger).replace(
        "postgresql://localhost", f"postgresql://{tls_hall.bed.user}:{tls_hall.password}@localhost", 1)
    shown = journal_show(url, tls_hall.env)
    assert shown.exit_code == 13, shown.output
    report = json.loads(shown.stdout)
    assert report["error"] == "journal-unreachable"
    assert "over TLS" in report["message"] and "certificate verify failed" in report["message"]
    assert tls_hall.password not in shown.stdout + shown.stderr
