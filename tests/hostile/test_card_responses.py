"""Hostile card answers: TLV, OpenPGP data objects and APDU sessions raise only CardError kinds.

The contract (docs/pcsc.md): bytes that do not parse raise MalformedResponse (a CardError);
a status word becomes a TokenError subclass through the one table; an EC key template is
NotSupported. A card (or a man in the middle on the reader) controls all of these bytes.
"""

from __future__ import annotations

import pytest
from hostile_support import fuzz_settings, mutated, rsa_signer, run_parser
from hypothesis import example, given
from hypothesis import strategies as st

from sitoken.errors import NotSupported, TokenError
from sitoken.pcsc import tlv
from sitoken.pcsc.apdu import ApduSession, CommandApdu
from sitoken.pcsc.openpgp_data import (
    DO_AID,
    DO_APPLICATION_RELATED,
    DO_EXTENDED_CAPABILITIES,
    DO_FINGERPRINTS,
    DO_KEY_INFORMATION,
    DO_PUBLIC_KEY,
    DO_PW_STATUS,
    AlgorithmAttributes,
    ApplicationData,
    CardAid,
    PwStatus,
    rsa_public_key_der,
)
from sitoken.pcsc.tlv import MalformedResponse, encode_tlv

CARD_ERRORS = (MalformedResponse,)
KEY_TEMPLATE_ERRORS = (MalformedResponse, NotSupported)



def _application_data() -> bytes:
    """DO 6E as an OpenPGP card v3.4 sends it (layout of the spec's example, values made up)."""
    aid = bytes.fromhex("D2760001240103040006123456780000")
    historical = bytes.fromhex("0031C573C001400590")
    attrs = [encode_tlv(tag, bytes.fromhex("010800002000")) for tag in (0xC1, 0xC2, 0xC3)]
    discretionary = b"".join([
        encode_tlv(DO_EXTENDED_CAPABILITIES, bytes.fromhex("7D000BFE080000FF0000")),
        *attrs,
        encode_tlv(DO_PW_STATUS, bytes.fromhex("00202020030003")),
        encode_tlv(DO_FINGERPRINTS, bytes(range(60))),
        encode_tlv(DO_KEY_INFORMATION, bytes.fromhex("010102000300")),
    ])
    body = encode_tlv(DO_AID, aid) + encode_tlv(0x5F52, historical) + encode_tlv(0x73, discretionary)
    return encode_tlv(DO_APPLICATION_RELATED, body)


def _key_template() -> bytes:
    numbers = rsa_signer().private_key.public_key().public_numbers()  # type: ignore[union-attr]
    n = numbers.n.to_bytes(256, "big")
    e = numbers.e.to_bytes(3, "big")
    return encode_tlv(DO_PUBLIC_KEY, encode_tlv(0x81, n) + encode_tlv(0x82, e))


def test_seeds_parse() -> None:
    app = ApplicationData.parse(_application_data())
    assert app.aid.serial_hex == "12345678" and app.pw_status.pw3_tries == 3
    assert app.extended_length
    assert rsa_public_key_der(_key_template()) == rsa_signer().public_key_der()


_TLV_PARSERS = {
    "pcsc.tlv.parse_tlvs": tlv.parse_tlvs,
    "pcsc.tlv.walk": lambda b: list(tlv.walk(b)),
    "pcsc.tlv.find": lambda b: tlv.find(b, DO_PW_STATUS),
    "pcsc.openpgp_data.ApplicationData.parse": ApplicationData.parse,
    "pcsc.openpgp_data.CardAid.parse": CardAid.parse,
    "pcsc.openpgp_data.PwStatus.parse": PwStatus.parse,
    "pcsc.openpgp_data.AlgorithmAttributes.parse": AlgorithmAttributes.parse,
}


@fuzz_settings(max_examples=400)
@given(st.data())
def test_data_object_parsers_mutated(data: st.DataObject) -> None:
    blob = data.draw(mutated(_application_data()) | st.binary(max_size=200))
    for name, parse in _TLV_PARSERS.items():
        run_parser(name, CARD_ERRORS, parse, blob)


def _nested(depth: int) -> bytes:
    blob = b"\x00"
    for _ in range(depth):
        blob = encode_tlv(0x73, blob)
    return blob


@fuzz_settings(max_examples=60)
@given(st.integers(1, 400))
def test_deeply_nested_constructed_objects(depth: int) -> None:
    # 400 levels is about 1.4 KB: a chained response can carry that much.
    for name in ("pcsc.tlv.walk", "pcsc.tlv.find", "pcsc.openpgp_data.ApplicationData.parse"):
        run_parser(name, CARD_ERRORS, _TLV_PARSERS[name], _nested(depth))


def test_nesting_deeper_than_the_stack() -> None:
    # 1500 levels is under 6 KB, well inside the 64 KiB that GET RESPONSE chaining accepts.
    with pytest.raises(MalformedResponse):
        tlv.find(_nested(1500), DO_PW_STATUS)


@fuzz_settings(max_examples=300)
@given(st.data())
def test_public_key_template_mutated(data: st.DataObject) -> None:
    blob = data.draw(mutated(_key_template()) | _random_template())
    run_parser("pcsc.openpgp_data.rsa_public_key_der", KEY_TEMPLATE_ERRORS, rsa_public_key_der, blob)


def _random_template() -> st.SearchStrategy[bytes]:
    # Small, well-formed templates with arbitrary numbers hit the RSA checks, not the TLV ones.
    number = st.binary(min_size=1, max_size=8)
    return st.builds(lambda n, e: encode_tlv(DO_PUBLIC_KEY, encode_tlv(0x81, n) + encode_tlv(0x82, e)),
                     number, number)


def test_rsa_template_with_even_modulus() -> None:
    template = encode_tlv(DO_PUBLIC_KEY, encode_tlv(0x81, b"\x10\x00") + encode_tlv(0x82, b"\x01\x00\x01"))
    with pytest.raises(MalformedResponse):
        rsa_public_key_der(template)


@fuzz_settings(max_examples=200)
@given(st.lists(st.tuples(st.binary(max_size=40), st.integers(0, 0xFFFF)), min_size=1, max_size=8))
@example([(b"", 0x6100)] * 8)  # 61 00: "256 more bytes", forever
@example([(b"", 0x6C00), (b"", 0x6C00)])  # wrong Le twice
@example([(b"", 0x63C0)])
def test_apdu_session_answers(answers: list[tuple[bytes, int]]) -> None:
    script = list(answers)

    class ScriptedCard:
        """A card that answers from the script, then 9000 forever."""

        def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
            return script.pop(0) if script else (b"", 0x9000)

    session = ApduSession(ScriptedCard())
    # Every status word but 9000 becomes a TokenError subclass that keeps the word.
    try:
        run_parser("pcsc.apdu.ApduSession.send", (), session.send, CommandApdu(0, 0xCA, 0, 0x6E, le=256))
    except TokenError as exc:
        assert exc.sw is not None and exc.sw != 0x9000
