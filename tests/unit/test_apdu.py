"""APDU encoding, chaining, 61xx/6Cxx, the status-word table and log redaction, on canned bytes."""

from __future__ import annotations

import logging

import pytest

from sitoken.errors import CardError, KeyNotFound, NotSupported, PinError, PinIncorrect, PinLocked
from sitoken.pcsc.apdu import ApduSession, CommandApdu, describe_command, error_for_sw


class Canned:
    """A connection that answers from a script and records what was sent."""

    def __init__(self, *answers: tuple[str, int]) -> None:
        self.answers = [(bytes.fromhex(data), sw) for data, sw in answers]
        self.sent: list[str] = []

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        self.sent.append(apdu.hex().upper())
        return self.answers.pop(0)


@pytest.mark.parametrize(
    ("cmd", "extended", "wire"),
    [
        (CommandApdu(0, 0xA4, 4, 0), False, "00A40400"),
        (CommandApdu(0, 0xCA, 0, 0xC4, le=256), False, "00CA00C400"),
        (CommandApdu(0, 0xCA, 0, 0xC4, le=7), False, "00CA00C407"),
        (CommandApdu(0, 0x20, 0, 0x81, b"\x31\x32"), False, "0020008102" + "3132"),
        (CommandApdu(0, 0x2A, 0x9E, 0x9A, b"\xAA", le=256), False, "002A9E9A01AA00"),
        (CommandApdu(0, 0xCA, 0, 0x6E, le=65536), True, "00CA006E000000"),
        (CommandApdu(0, 0xCA, 0, 0x6E, le=300), True, "00CA006E00012C"),
        (CommandApdu(0, 0xDA, 0x7F, 0x21, b"\x01" * 300), True, "00DA7F2100012C" + "01" * 300),
        (CommandApdu(0, 0x2A, 0x9E, 0x9A, b"\xAA", le=65536), True, "002A9E9A000001AA0000"),
    ],
)
def test_encoding_short_and_extended(cmd: CommandApdu, extended: bool, wire: str) -> None:
    assert cmd.encode(extended).hex().upper() == wire


def test_encoding_rejects_what_needs_chaining_or_bad_le() -> None:
    with pytest.raises(ValueError):
        CommandApdu(0, 0xDA, 0, 0, b"\x00" * 256).encode()
    with pytest.raises(ValueError):
        CommandApdu(0, 0xCA, 0, 0, le=0).encode()


def test_long_data_is_sent_as_a_command_chain() -> None:
    link = Canned(("", 0x9000), ("", 0x9000))
    ApduSession(link).send(CommandApdu(0, 0xDA, 0x7F, 0x21, b"\x01" * 300))
    assert link.sent[0].startswith("10DA7F21FF") and len(link.sent[0]) == 2 * (5 + 255)
    assert link.sent[1] == "00DA7F212D" + "01" * 45


def test_chain_stops_at_the_first_error() -> None:
    link = Canned(("", 0x6A80))
    with pytest.raises(CardError) as err:
        ApduSession(link).send(CommandApdu(0, 0xDA, 0, 0x5B, b"\x01" * 300))
    assert err.value.sw == 0x6A80 and len(link.sent) == 1


def test_61xx_fetches_the_rest_with_exact_lengths() -> None:
    link = Canned(("0102", 0x6103), ("030405", 0x6100), ("06", 0x9000))
    data = ApduSession(link).send(CommandApdu(0, 0xCA, 0, 0x6E, le=256))
    assert data == bytes(range(1, 7))
    assert link.sent[1:] == ["00C0000003", "00C0000000"]


def test_6cxx_resends_with_the_right_le() -> None:
    link = Canned(("", 0x6C07), ("00112233445566", 0x9000))
    assert ApduSession(link).send(CommandApdu(0, 0xCA, 0, 0xC4, le=256)) == bytes.fromhex(
        "00112233445566"
    )
    assert link.sent == ["00CA00C400", "00CA00C407"]


def test_endless_61xx_is_bounded() -> None:
    class Endless:
        def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
            return b"\x00", 0x6101

    with pytest.raises(CardError):
        ApduSession(Endless()).send(CommandApdu(0, 0xCA, 0, 0x6E, le=256))


@pytest.mark.parametrize(
    ("sw", "cls", "remaining"),
    [
        (0x63C2, PinIncorrect, 2),
        (0x63C1, PinIncorrect, 1),
        (0x63C0, PinLocked, 0),
        (0x6983, PinLocked, 0),
        (0x6982, PinError, None),
        (0x6A82, KeyNotFound, None),
        (0x6A88, KeyNotFound, None),
        (0x6D00, NotSupported, None),
        (0x6F00, CardError, None),
        (0x6ABC, CardError, None),
    ],
)
def test_status_word_table(sw: int, cls: type, remaining: int | None) -> None:
    err = error_for_sw(sw, "VERIFY")
    assert type(err) is cls and err.sw == sw and f"{sw:04X}" in str(err)
    assert getattr(err, "remaining", None) == remaining
    assert err.to_dict()["sw"] == f"{sw:04X}"


@pytest.mark.parametrize("ins", [0x20, 0x24, 0x2C])
def test_pin_commands_are_redacted(ins: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sitoken.apdu")
    secret = b"Secur3pin"
    link = Canned(("", 0x9000))
    ApduSession(link).send(CommandApdu(0, ins, 0, 0x81, secret))
    assert "<9 bytes redacted>" in caplog.text
    assert secret.hex(" ").upper() not in caplog.text and "Secur3pin" not in caplog.text


def test_resetting_code_put_data_is_redacted_other_put_data_is_not() -> None:
    assert "redacted" in describe_command(CommandApdu(0, 0xDA, 0, 0xD3, b"12345678"))
    assert "41 42" in describe_command(CommandApdu(0, 0xDA, 0, 0x5B, b"AB"))
