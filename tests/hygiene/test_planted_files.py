"""Files an attacker could plant: generated PINs, PIN directories, revocation requests, journal, audit log.

A directory for PINs must be the user's and closed to others; a file already at a generated
PIN's name is never taken as the PIN; a symbolic link is never written through, whatever its
name. Each case checks that the refusal leaves the planted file's target untouched.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sitoken.errors import UnsafeFile
from sitoken.provisioning.audit import AuditLog
from sitoken.provisioning.holder_pins import DirectoryPins, GeneratedPins
from sitoken.provisioning.journal import Journal
from sitoken.safefiles import create_request

HOLDER = "110105199003071239"
PLANTED = "kn0wn2me"


@pytest.fixture()
def pins_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "pins"
    directory.mkdir(mode=0o700)
    return directory


def test_a_planted_pin_file_is_never_taken_as_the_generated_pin(pins_dir: Path) -> None:
    planted = pins_dir / f"{HOLDER}.pin"
    planted.write_text(PLANTED + "\n")
    planted.chmod(0o600)
    pin, generated = GeneratedPins(pins_dir).pin_for(HOLDER)
    assert generated and pin.text() != PLANTED
    assert planted.read_text() == pin.text() + "\n"  # the file now holds the PIN the token gets
    assert oct(planted.stat().st_mode & 0o777) == oct(0o600)


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o722, 0o1777])
def test_a_pin_directory_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    (shared / f"{HOLDER}.pin").write_text(PLANTED + "\n")
    for source in (GeneratedPins, DirectoryPins):
        with pytest.raises(UnsafeFile, match=r"writable by others .*chmod 700"):
            source(shared)
    assert (shared / f"{HOLDER}.pin").read_text() == PLANTED + "\n"


def test_a_pin_directory_of_another_user_or_a_link_is_refused(tmp_path: Path, pins_dir: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o700)
    os.chown(foreign, 65534, 65534)  # this suite runs as root (CI too): chown works
    with pytest.raises(UnsafeFile, match="belongs to another user"):
        GeneratedPins(foreign)
    link = tmp_path / "link"
    link.symlink_to(pins_dir)
    with pytest.raises(UnsafeFile, match="symbolic link"):
        GeneratedPins(link)


def test_links_planted_at_the_pin_names_are_never_written_through(tmp_path: Path, pins_dir: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (pins_dir / f".{HOLDER}.pin.tmp").symlink_to(victim)  # the old, predictable temporary name
    other = "91350100M000100Y43"
    (pins_dir / f"{other}.pin").symlink_to(victim)
    pin, _ = GeneratedPins(pins_dir).pin_for(HOLDER)
    assert (pins_dir / f"{HOLDER}.pin").read_text() == pin.text() + "\n"
    with pytest.raises(UnsafeFile, match="symbolic link") as refused:
        GeneratedPins(pins_dir).pin_for(other)
    assert other not in str(refused.value), "the credit code must be masked in the message"
    assert victim.read_text() == "precious\n"


def test_a_holder_pin_file_others_can_read_is_refused(pins_dir: Path) -> None:
    path = pins_dir / f"{HOLDER}.pin"
    path.write_text("hold3r9pin\n")
    path.chmod(0o644)
    with pytest.raises(UnsafeFile, match="readable by others") as refused:
        DirectoryPins(pins_dir).pin_for(HOLDER)
    assert HOLDER not in str(refused.value)
    path.chmod(0o600)
    assert DirectoryPins(pins_dir).pin_for(HOLDER)[0].text() == "hold3r9pin"


def test_revocation_requests_are_new_files_never_links(tmp_path: Path, pins_dir: Path) -> None:
    first = create_request(pins_dir, "revoke-1a", b'{"n": 1}\n')
    second = create_request(pins_dir, "revoke-1a", b'{"n": 2}\n')
    assert (first.name, second.name) == ("revoke-1a.json", "revoke-1a.2.json")
    assert first.read_bytes() == b'{"n": 1}\n' and second.read_bytes() == b'{"n": 2}\n'
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (pins_dir / "revoke-2b.json").symlink_to(victim)
    with pytest.raises(UnsafeFile, match="symbolic link"):
        create_request(pins_dir, "revoke-2b", b"{}\n")
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("which", ["journal", "journal-wal", "audit"])
def test_journal_and_audit_log_refuse_links(tmp_path: Path, which: str) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    name = {"journal": "journal.sqlite", "journal-wal": "journal.sqlite-wal", "audit": "audit.jsonl"}[which]
    (state / name).symlink_to(victim)
    with pytest.raises(UnsafeFile, match="symbolic link"):
        if which == "audit":
            AuditLog(state / "audit.jsonl", "clerk")
        else:
            Journal(state / "journal.sqlite")
    assert victim.read_text() == "precious\n"
