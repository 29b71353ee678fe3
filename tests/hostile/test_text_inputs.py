"""Hostile text from users: PKCS#11 URIs, public key files and PINs raise only InvalidInput kinds.

These come from argv, environment variables and files. On POSIX, Python turns bytes that are
not UTF-8 into lone surrogates (os.fsdecode), so a parser must refuse those as InvalidInput
rather than fail with UnicodeEncodeError.
"""

from __future__ import annotations

from hostile_support import fuzz_settings, mutated, mutated_text, rsa_signer, run_parser, signer
from hypothesis import example, given
from hypothesis import strategies as st

from sitoken.errors import InvalidInput, PinPolicyError
from sitoken.pin import SO_PIN_POLICY, Pin, PinPolicy
from sitoken.pkcs11.uri import object_uri, parse_uri, token_uri
from sitoken.pubkey import load_public_key, spki_to_pem

URI_SEEDS = (
    token_uri("applicant 0042", "A1B2C3", "SoftHSM project", "SoftHSM v2"),
    object_uri("张三的USB-Key", "sign-key", b"\x01\xff\x00", "private"),
    "pkcs11:token=demo;object=k1?module-name=softhsm2&pin-source=file:/tmp/p",
)


def test_uri_seeds_round_trip() -> None:
    assert parse_uri(URI_SEEDS[0]).token == "applicant 0042"
    assert parse_uri(URI_SEEDS[1]).object_id == b"\x01\xff\x00"


_URI_TEXT = (st.sampled_from(URI_SEEDS).flatmap(mutated_text) | st.text(max_size=80)
             | st.text(max_size=60).map("pkcs11:".__add__))


@fuzz_settings(max_examples=300)
@given(_URI_TEXT)
@example("pkcs11:token=\udcff")  # argv holding a byte that is not UTF-8 (os.fsdecode)
@example("pkcs11:token=%ff%fe")
@example("pkcs11:?pin-value=1234")
@example("pkcs11:id=%zz;id=%00")
def test_parse_uri(text: str) -> None:
    uri = run_parser("pkcs11.uri.parse_uri", (InvalidInput,), parse_uri, text)
    if uri is not None:
        # A URI that parsed never carries a PIN (RFC 7512 pin-value is refused outright).
        assert "pin-value" not in uri.query


def _key_seeds() -> st.SearchStrategy[bytes]:
    ec_der, rsa_der = signer().public_key_der(), rsa_signer().public_key_der()
    return st.sampled_from((ec_der, rsa_der, spki_to_pem(ec_der), spki_to_pem(rsa_der)))


@fuzz_settings(max_examples=300)
@given(st.data())
def test_load_public_key_mutated(data: st.DataObject) -> None:
    _check_public_key(data.draw(_key_seeds().flatmap(mutated) | st.binary(max_size=200)))


@fuzz_settings(max_examples=20)
@given(st.sampled_from([
    b"-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n",
    b"   -----",
    b"",
    b"-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n",
]))
def test_load_public_key_edges(blob: bytes) -> None:
    _check_public_key(blob)


def _check_public_key(blob: bytes) -> None:
    der = run_parser("pubkey.load_public_key", (InvalidInput,), load_public_key, blob)
    if der is not None:
        # What it returns is DER that it accepts again, unchanged.
        assert load_public_key(der) == der


POLICIES = (PinPolicy(), SO_PIN_POLICY, PinPolicy(min_length=0, max_length=64, require_symbol=True,
                                                  require_upper=True, require_lower=True))


def _pin_and_check(policy: PinPolicy, text: str, avoid: list[str]) -> list[str]:
    # Pin() is where outside text first becomes a PIN: it may refuse the text, nothing else.
    with Pin(text) as pin:
        reasons = policy.violations(pin, avoid=avoid)
        assert all(isinstance(reason, str) and reason for reason in reasons)
        # The reasons are read out at a counter and logged: they must never quote the PIN.
        if len(text) >= 4:
            assert not any(text in reason for reason in reasons)
        try:
            policy.enforce(pin, avoid=avoid)
        except PinPolicyError as exc:
            assert exc.reasons == reasons
        else:
            assert reasons == []
    return reasons


@fuzz_settings(max_examples=500)
@given(st.sampled_from(POLICIES),
       st.text(max_size=40) | st.text(alphabet="aA1!\udcff１ \x00", max_size=20),
       st.lists(st.text(max_size=20), max_size=2))
@example(PinPolicy(), "abc12\udcff", [])
@example(PinPolicy(), "", [""])
@example(PinPolicy(), "a1" * 10_000, ["a1a1"])
def test_pin_text(policy: PinPolicy, text: str, avoid: list[str]) -> None:
    run_parser("pin.PinPolicy.violations", (InvalidInput,), _pin_and_check, policy, text, avoid)
