"""Random card responses never crash the parsers: they parse or raise MalformedResponse."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from sitoken.errors import NotSupported, TokenError
from sitoken.pcsc import tlv
from sitoken.pcsc.apdu import ApduSession, CommandApdu
from sitoken.pcsc.openpgp_data import (
    AlgorithmAttributes,
    ApplicationData,
    CardAid,
    PwStatus,
    rsa_public_key_der,
)
from sitoken.pcsc.tlv import MalformedResponse

PARSERS = (tlv.parse_tlvs, lambda b: list(tlv.walk(b)), ApplicationData.parse, PwStatus.parse,
           CardAid.parse, AlgorithmAttributes.parse, rsa_public_key_der)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_parsers_never_crash_on_random_bytes(data: bytes) -> None:
    for parse in PARSERS:
        with contextlib.suppress(MalformedResponse, NotSupported):
            parse(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=40), st.integers(0, 0xFFFF)), min_size=1, max_size=6))
def test_session_survives_any_answers(answers: list[tuple[bytes, int]]) -> None:
    script = list(answers)

    class Scripted:
        def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
            return script.pop(0) if script else (b"", 0x9000)

    try:
        ApduSession(Scripted()).send(CommandApdu(0, 0xCA, 0, 0x6E, le=256))
    except TokenError as exc:
        assert exc.sw is not None or "61xx" in str(exc)
