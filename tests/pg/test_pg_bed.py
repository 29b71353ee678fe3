"""The private PostgreSQL bed itself: it starts, keeps data across a restart, isolates databases."""

from __future__ import annotations

from testbed.pg_bed import PgBed

from pg_support import psql


def test_bed_serves_its_database_on_a_private_socket(pg_bed: PgBed) -> None:
    assert pg_bed.running()
    assert str(pg_bed.socket_dir) in pg_bed.url()
    assert psql(pg_bed, "sitoken", "SHOW listen_addresses") == ""  # no TCP port at all
    assert psql(pg_bed, "sitoken", "SELECT current_database()") == "sitoken"


def test_a_fresh_database_is_empty_and_its_own(pg_bed: PgBed, fresh_database: str) -> None:
    name = fresh_database.split("?")[0].rsplit("/", 1)[1]
    psql(pg_bed, name, "CREATE TABLE marker (n integer)")
    assert psql(pg_bed, "sitoken", "SELECT to_regclass('marker') IS NULL") == "t"
    assert psql(pg_bed, name, "SELECT to_regclass('marker') IS NOT NULL") == "t"


def test_data_survives_a_server_restart(pg_bed: PgBed, fresh_database: str) -> None:
    name = fresh_database.split("?")[0].rsplit("/", 1)[1]
    psql(pg_bed, name, "CREATE TABLE kept (n integer); INSERT INTO kept VALUES (42)")
    pg_bed.stop("immediate")  # as a crash would
    assert not pg_bed.running()
    pg_bed.start()
    assert psql(pg_bed, name, "SELECT n FROM kept") == "42"
