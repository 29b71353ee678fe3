"""RFC 4514 distinguished names: parsing, DER encoding, formatting, round trips."""

from __future__ import annotations

import pytest
from asn1crypto import x509 as a509
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from sitoken.certs.names import format_name, name_der, parse_name
from sitoken.errors import InvalidInput


def _attrs(der: bytes) -> list[list[tuple[str, int, str]]]:
    """(dotted OID, universal tag, text) per attribute, in DER order."""
    out = []
    for rdn in a509.Name.load(der).chosen:
        out.append([(atv["type"].dotted, atv["value"].dump()[0], atv["value"].native)
                    for atv in rdn])
    return out


def test_chinese_personal_dn_is_reversed_into_der_order_with_right_string_types() -> None:
    der = name_der("CN=张三,OU=Individual-1,O=某社保中心,C=CN")
    assert _attrs(der) == [
        [("2.5.4.6", 0x13, "CN")],  # PrintableString
        [("2.5.4.10", 0x0C, "某社保中心")],  # UTF8String
        [("2.5.4.11", 0x0C, "Individual-1")],
        [("2.5.4.3", 0x0C, "张三")],
    ]


def test_escaped_comma_stays_in_the_value() -> None:
    assert _attrs(name_der(r"CN=Zhang\, San,C=CN"))[1] == [("2.5.4.3", 0x0C, "Zhang, San")]


def test_plus_makes_a_multi_valued_rdn() -> None:
    rdns = parse_name("CN=张三+serialNumber=110101199003071234,C=CN")
    assert [[a.oid for a in rdn] for rdn in rdns] == [["2.5.4.3", "2.5.4.5"], ["2.5.4.6"]]
    assert len(_attrs(name_der("CN=张三+serialNumber=110101199003071234,C=CN"))[1]) == 2


def test_dotted_oids_use_the_attribute_string_type() -> None:
    attrs = _attrs(name_der("2.5.4.5=ABC123,1.2.156.10260.4.1.1=110101199003071234"))
    assert attrs == [[("1.2.156.10260.4.1.1", 0x0C, "110101199003071234")],
                     [("2.5.4.5", 0x13, "ABC123")]]


def test_hex_escapes_form_utf8_and_special_characters_escape() -> None:
    assert parse_name(r"CN=\E5\BC\A0\2Bx\ ")[0][0].value == "张+x "
    assert parse_name(r"CN=\#1\;2\<3\>\"")[0][0].value == '#1;2<3>"'


def test_unescaped_spaces_around_values_are_dropped() -> None:
    assert parse_name("CN = 张 三 , C=CN")[0][0].value == "张 三"


def test_hash_value_is_taken_as_der() -> None:
    assert name_der("1.2.3.4=#0C03616263").endswith(b"\x06\x03\x2a\x03\x04\x0c\x03abc")
    assert format_name(name_der("1.2.3.4=#0C03616263")) == "1.2.3.4=abc"
    assert format_name(name_der("1.2.3.4=#020105")) == "1.2.3.4=#020105"


def test_keywords_are_case_insensitive_and_aliases_work() -> None:
    assert name_der("cn=a,c=CN") == name_der("commonName=a,countryName=CN")
    assert parse_name("E=a@b.cn")[0][0].oid == "1.2.840.113549.1.9.1"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("XX=1", "unknown attribute type"),
        ("CN", "expected TYPE=value"),
        ("CN=a;b", "must be escaped"),
        ("CN=a<b", "must be escaped"),
        ("CN=a\\", "backslash"),
        ("CN=a\\q", "backslash"),
        ("CN=\\FF\\FE", "UTF-8"),
        ("C=CHN", "two-letter"),
        ("serialNumber=张三", "allows only"),
        ("emailAddress=张@x", "ASCII"),
        ("CN=" + "x" * 65, "longer than 64"),
        ("CN=,C=CN", "empty"),
        ("1.2.3=#0C0", "hex digits"),
        ("1.2.3=#0C05", "DER"),
        ("01.2=x", "unknown attribute type"),
        ("CN=a,", "expected TYPE=value"),
    ],
)
def test_bad_names_raise_invalid_input_saying_why(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        name_der(text)


def test_formatting_escapes_what_the_parser_needs_and_control_characters() -> None:
    der = name_der(r"CN=\ a\,b+OU=x\2By\ ,O=\#x\01")
    text = format_name(der)
    assert "\\01" in text and "O=\\#x" in text
    assert name_der(text) == der


def test_format_matches_cryptography_for_plain_names() -> None:
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "某社保中心"),
        x509.NameAttribute(NameOID.COMMON_NAME, "张, 三"),
    ])
    assert format_name(name.public_bytes()) == name.rfc4514_string()


def test_empty_string_is_the_empty_name() -> None:
    assert parse_name("  ") == []
    assert name_der("") == b"\x30\x00"


_KEYWORDS = st.sampled_from(["CN", "O", "OU", "L", "ST", "title", "1.2.156.10260.4.1.1"])
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20)
_RDN = st.lists(st.tuples(_KEYWORDS, _TEXT), min_size=1, max_size=3)


@settings(max_examples=200, deadline=None)
@given(st.lists(_RDN, min_size=1, max_size=4))
def test_format_then_parse_gives_back_the_same_der(rdns: list[list[tuple[str, str]]]) -> None:
    from sitoken.certs.names import NameAttribute, encode_name

    oids = {"CN": "2.5.4.3", "O": "2.5.4.10", "OU": "2.5.4.11", "L": "2.5.4.7",
            "ST": "2.5.4.8", "title": "2.5.4.12"}
    parsed = [[NameAttribute(oids.get(k, k), v) for k, v in rdn] for rdn in rdns]
    der = encode_name(parsed)
    assert name_der(format_name(der)) == der


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_parses_or_raises_invalid_input(text: str) -> None:
    try:
        der = name_der(text)
    except InvalidInput:
        return
    assert der[0] == 0x30
