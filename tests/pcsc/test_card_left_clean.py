"""After a sitoken command, the card keeps no PIN verified for the next program that talks to it."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from testbed.pcsc_bed import PcscBed

from sitoken.pcsc import send_apdus

PINS = {"PIN": "123456", "ADMIN": "12345678"}
# VERIFY with no data asks for the access status: 9000 when verified, 63Cx when not.
STATUS = {ref: bytes.fromhex(f"002000{ref:02X}") for ref in (0x81, 0x82, 0x83)}


def _verified(reader: str) -> dict[int, bool]:
    out = {}
    for ref, apdu in STATUS.items():
        (exchange,) = send_apdus(reader, [apdu])
        out[ref] = exchange.sw == 0x9000
    return out


def test_commands_leave_no_pin_verified(pcsc_bed: PcscBed, card: Path, tmp_path: Path) -> None:
    from sitoken.cli import cli

    reader = pcsc_bed.reader_name(0)
    token = ("--token", f"pcsc:{reader}")
    runner = CliRunner()
    gen = runner.invoke(cli, ["key", "generate", *token, "--type", "rsa2048", "--label", "sig",
                              "--so-pin-env", "ADMIN"], env=PINS)
    assert gen.exit_code == 0, gen.stderr
    assert _verified(reader) == {0x81: False, 0x82: False, 0x83: False}
    doc = tmp_path / "doc"
    doc.write_bytes(b"record")
    signed = runner.invoke(cli, ["sign", *token, "--key", "sig", "--in", str(doc), "--out", str(tmp_path / "sig"),
                                 "--pin-env", "PIN"], env=PINS)
    assert signed.exit_code == 0, signed.stderr
    assert _verified(reader) == {0x81: False, 0x82: False, 0x83: False}
