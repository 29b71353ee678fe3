"""The signing pool on real SoftHSM tokens: order, spread over tokens, failures that name both."""

from __future__ import annotations

import itertools
import os
import threading

import pytest

from sitoken.certs.keys import load_public_key, verify_signature
from sitoken.errors import InvalidInput, SignatureInvalid
from sitoken.pin import Pin
from sitoken.pkcs11 import Pkcs11Token
from sitoken.signing.pool import PoolSignError, pool_member, sign_many
from sitoken.token import KeyType

pytestmark = pytest.mark.softhsm


def _signer_of(tokens: list[Pkcs11Token], key: str, data: bytes, signature: bytes) -> str:
    """The label of the token whose key made the signature (SignatureInvalid if none)."""
    for token in tokens:
        info = token.find_key(key)
        assert info.key_type is not None
        try:
            verify_signature(load_public_key(token.public_key_der(key)), signature, data,
                             info.key_type.default_mechanism)
        except SignatureInvalid:
            continue
        return token.label
    raise SignatureInvalid(f"no token's {key} key made this signature")


@pytest.mark.parametrize("key", ["rsa", "p256"])
def test_signatures_come_back_in_input_order_from_both_tokens(tokens: list[Pkcs11Token], key: str) -> None:
    inputs = [f"document {i}".encode() for i in range(60)]
    members = [pool_member(t, key) for t in tokens]
    signatures = list(sign_many(members, inputs, chunk_size=3))
    assert len(signatures) == len(inputs)
    signers = [_signer_of(tokens, key, data, sig) for data, sig in zip(inputs, signatures, strict=True)]
    assert set(signers) == {t.label for t in tokens}  # both tokens did part of the work


def test_a_failure_names_the_token_and_the_input(tokens: list[Pkcs11Token], pool_pin: str) -> None:
    good, bad = tokens
    members = [pool_member(good, "rsa"), pool_member(bad, "rsa", sessions=2)]
    bad.logout()  # its private key is out of reach now: the token refuses to sign
    inputs = [f"document {i}".encode() for i in range(40)]
    signed = []
    try:
        with pytest.raises(PoolSignError) as caught:
            for signature in sign_many(members, inputs, chunk_size=4):
                signed.append(signature)
    finally:
        bad.login(Pin(pool_pin))  # the other tests share the tokens
    error = caught.value
    assert error.token == bad.label and error.index == len(signed) and error.index % 4 == 0
    assert f"input {error.index} on token {bad.label!r}" in str(error)
    assert error.to_dict()["token"] == bad.label and error.to_dict()["index"] == error.index
    # The token's own code is kept: SoftHSM hides private objects after logout.
    assert error.rv in (0x82, 0x101) and error.function == "C_SignInit"  # OBJECT_HANDLE_INVALID, USER_NOT_LOGGED_IN
    for data, signature in zip(inputs, signed, strict=False):
        assert _signer_of(tokens, "rsa", data, signature) == good.label


def test_an_empty_stream_and_the_pools_rules(tokens: list[Pkcs11Token]) -> None:
    members = [pool_member(t, "rsa") for t in tokens]
    assert list(sign_many(members, [])) == []
    with pytest.raises(InvalidInput, match="one type"):
        list(sign_many([members[0], pool_member(tokens[1], "p256")], [b"x"]))
    with pytest.raises(InvalidInput):
        list(sign_many([], [b"x"]))


def test_stopping_early_leaves_no_thread_behind(tokens: list[Pkcs11Token]) -> None:
    before = threading.active_count()
    stream = sign_many([pool_member(t, "p256") for t in tokens], itertools.repeat(b"endless"), chunk_size=8)
    assert len(list(itertools.islice(stream, 50))) == 50
    stream.close()  # type: ignore[attr-defined]
    assert threading.active_count() == before


def test_pool_benchmark_measures_one_token_and_the_pool_in_one_run(module) -> None:  # type: ignore[no-untyped-def]
    from sitoken.bench_pool import format_pool, run_pool_bench

    conf = os.environ["SOFTHSM2_CONF"]
    (row,) = run_pool_bench(pool=2, seconds=0.05, key_types=[KeyType.EC_P256])
    assert (row.one.threads, row.pool.threads) == (1, 2)  # tokens side by side
    assert row.one.signatures > 0 and row.pool.signatures > 0
    assert row.ratio == round(row.pool.rate / row.one.rate, 3)
    assert format_pool([row]).splitlines()[1].startswith("ec-p256 | 2 | ")
    with pytest.raises(InvalidInput):
        run_pool_bench(pool=1)
    assert os.environ["SOFTHSM2_CONF"] == conf  # child processes still find the test store
