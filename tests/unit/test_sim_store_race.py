"""Two processes making the simulated store at once: the one that loses the race still starts.

Seen in the three-process concurrency suite as exit 15 "sim/softhsm2.conf already exists": each
process looked, found no configuration, and the second one's exclusive create failed. The race is
replayed here by creating the file exactly between the look and the create.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import sitoken.safefiles as safefiles
from sitoken.pkcs11.softhsm import SimStore


def _another_process_writes_first(monkeypatch: pytest.MonkeyPatch, text: str) -> list[Path]:
    real = safefiles._link_new
    raced: list[Path] = []

    def link_after_the_other(tmp: Path, path: Path) -> None:
        path.write_text(text)  # the other counter's configuration lands first
        raced.append(path)
        real(tmp, path)

    monkeypatch.setattr(safefiles, "_link_new", link_after_the_other)
    return raced


def test_same_configuration_written_by_another_process_is_kept(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    store = SimStore(tmp_path / "store")
    expected = _expected_text(tmp_path)
    raced = _another_process_writes_first(monkeypatch, expected)
    store.ensure()
    assert raced == [store.conf]
    assert store.conf.read_text() == expected


def test_other_configuration_at_the_name_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SimStore(tmp_path / "store")
    expected = _expected_text(tmp_path)
    _another_process_writes_first(monkeypatch, "directories.tokendir = /elsewhere\n")
    store.ensure()
    assert store.conf.read_text() == expected


def _expected_text(tmp_path: Path) -> str:
    """What an undisturbed ensure() writes, from a store beside the one under test."""
    twin = SimStore(tmp_path / "twin").ensure()
    return twin.conf.read_text().replace(str(twin.tokens), str(tmp_path / "store" / "tokens"))
