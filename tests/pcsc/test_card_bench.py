"""``sitoken bench --card``: APDUs and milliseconds per operation, sitoken beside OpenSC, one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from testbed.pcsc_bed import OpenScBed, PcscBed

from pcsc_support import FACTORY_PIN
from sitoken.card_bench import run_card_bench
from sitoken.pcsc.openpgp import OpenPgpCard
from sitoken.pin import Pin

pytestmark = pytest.mark.opensc


@pytest.fixture
def card_keyed(keyed: OpenPgpCard) -> None:
    keyed.close()  # the bench opens the card itself


def test_the_count_of_sitoken_is_what_the_card_received(pcsc_bed: PcscBed, card_keyed: None) -> None:
    mark = pcsc_bed.apdu_mark(0)
    with Pin(FACTORY_PIN) as pin:
        report = run_card_bench(pcsc_bed.reader_name(0), pin, rounds=2, signatures=3)
    assert report.apdus_sent == len(pcsc_bed.apdus(0, mark)) == 2 * 2 + 2 * 4 + 4 + 3 * 2
    assert {(r.operation, r.apdus) for r in report.rows} == {
        ("pin status", 2), ("one sign process", 4), ("each further signature", 2)}


def test_cli_puts_sitoken_beside_opensc(pcsc_bed: PcscBed, card_keyed: None, opensc: OpenScBed) -> None:
    from sitoken.cli import cli

    mark = pcsc_bed.apdu_mark(0)
    done = CliRunner().invoke(cli, ["bench", "--card", f"pcsc:{pcsc_bed.reader_name(0)}", "--rounds", "1",
                                    "--signatures", "2", "--pin-env", "PIN", "--json"], env={"PIN": FACTORY_PIN})
    assert done.exit_code == 0, done.stderr
    report = json.loads(done.stdout)
    rows = {(r["operation"], r["client"]): r for r in report["rows"]}
    for operation in ("pin status", "one sign process"):
        ours, theirs = rows[operation, "sitoken"], rows[operation, "opensc"]
        assert ours["apdus"] < theirs["apdus"], (ours, theirs)
        assert ours["ms"] > 0 and theirs["ms"] > 0
    # OpenSC's log undercounts (a lower bound), never overcounts: the card saw at least that much.
    assert len(pcsc_bed.apdus(0, mark)) >= report["apdus_sent"]
    assert Path(report["opensc"]).name == "opensc-pkcs11.so"
