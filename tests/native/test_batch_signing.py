"""sign_many on SoftHSM, on both paths: signatures verify on the host, come in input order,
agree between paths, and errors name the input and the PKCS#11 code."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from helpers_native import KEY_TYPES, require_native, verifies

from sitoken.errors import InvalidInput, NotSupported
from sitoken.signing.batch import BatchSignError, batch_key_for, sign_batch, sign_many
from sitoken.token import KeyType, Mechanism, mechanisms_for

pytestmark = [pytest.mark.softhsm, pytest.mark.native]

CASES = [(kt, m) for kt in KEY_TYPES for m in mechanisms_for(kt)]
CKR_GENERAL_ERROR, CKR_KEY_HANDLE_INVALID, CKR_OBJECT_HANDLE_INVALID = 0x5, 0x60, 0x82
CKR_KEY_TYPE_INCONSISTENT = 0x63


def messages(n: int, tag: str = "m") -> list[bytes]:
    return [f"{tag}-{i}-".encode() * (1 + i % 5) for i in range(n)]


IDS = [f"{k.value}-{m.value}" for k, m in CASES]


@pytest.mark.parametrize(("key_type", "mechanism"), CASES, ids=IDS)
def test_every_signature_verifies_on_host(batch_token, signing_path, key_type, mechanism):
    key = batch_key_for(batch_token, key_type.value)
    data = messages(40)
    signatures = sign_batch(key, data, mechanism=mechanism, threads=2, chunk_size=16)
    public = batch_token.public_key_der(key_type.value)
    assert len(signatures) == len(data)
    assert all(verifies(public, mechanism, m, s) for m, s in zip(data, signatures, strict=True))


@pytest.mark.parametrize("key_type", [KeyType.EC_P256, KeyType.EC_P384])
def test_raw_ecdsa_is_r_and_s(batch_token, signing_path, key_type):
    key = batch_key_for(batch_token, key_type.value)
    size = 32 if key_type is KeyType.EC_P256 else 48
    raw = sign_batch(key, messages(10), ecdsa_format="raw")
    assert {len(sig) for sig in raw} == {2 * size}


@pytest.mark.parametrize("key_type", [KeyType.EC_P256, KeyType.EC_P384])
def test_ecdsa_der_is_canonical(batch_token, signing_path, key_type):
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    key = batch_key_for(batch_token, key_type.value)
    for sig in sign_batch(key, messages(200)):
        assert encode_dss_signature(*decode_dss_signature(sig)) == sig


@pytest.mark.parametrize("key_type", [KeyType.RSA2048, KeyType.ED25519])
def test_native_and_python_give_identical_deterministic_signatures(batch_token, key_type):
    require_native()
    key = batch_key_for(batch_token, key_type.value)
    data = messages(30)
    native = sign_batch(key, data, native=True, threads=2)
    python = sign_batch(key, data, native=False)
    assert native == python


def test_order_is_kept_across_chunks_and_threads(batch_token, signing_path):
    key = batch_key_for(batch_token, KeyType.ED25519.value)
    data = messages(300, "order")
    one_by_one = sign_batch(key, data, threads=1, chunk_size=1)
    streamed = list(sign_many(key, iter(data), threads=2, chunk_size=37))
    assert streamed == one_by_one  # Ed25519 is deterministic: equal lists mean equal order


def test_generator_input_is_consumed_lazily(batch_token, signing_path):
    key = batch_key_for(batch_token, KeyType.EC_P256.value)
    pulled = []

    def source():
        for i in range(10_000):
            pulled.append(i)
            yield b"%d" % i

    stream = sign_many(key, source(), chunk_size=50)
    first = next(stream)
    assert first and len(pulled) == 50  # one chunk read, not the whole source
    stream.close()


@pytest.mark.parametrize("mechanism", [Mechanism.ECDSA_SHA256, Mechanism.RSA_PSS_SHA256,
                                       Mechanism.RSA_PKCS_SHA384])
def test_prehashed_input(batch_token, signing_path, mechanism):
    key_type = KeyType.EC_P256 if mechanism.family == "ec" else KeyType.RSA2048
    key = batch_key_for(batch_token, key_type.value)
    hash_name = mechanism.hash_name or ""
    digests = [hashlib.new(hash_name, m).digest() for m in messages(20)]
    signatures = sign_batch(key, digests, mechanism=mechanism, prehashed=True)
    public = batch_token.public_key_der(key_type.value)
    assert all(verifies(public, mechanism, d, s, prehashed=True)
               for d, s in zip(digests, signatures, strict=True))


def test_prehashed_input_of_wrong_size_is_refused(batch_token, signing_path):
    key = batch_key_for(batch_token, KeyType.EC_P256.value)
    with pytest.raises(InvalidInput):
        sign_batch(key, [b"short"], prehashed=True)


def test_empty_input_gives_no_signatures(batch_token, signing_path):
    assert sign_batch(batch_key_for(batch_token, KeyType.EC_P256.value), []) == []


def test_mechanism_of_another_family_is_refused_before_the_token(batch_token, signing_path):
    key = batch_key_for(batch_token, KeyType.EC_P256.value)
    with pytest.raises(InvalidInput):
        sign_batch(key, [b"x"], mechanism=Mechanism.RSA_PKCS_SHA256)


def test_threads_need_os_locking(batch_token, signing_path):
    key = replace(batch_key_for(batch_token, KeyType.EC_P256.value), os_locking=False)
    with pytest.raises(NotSupported):
        sign_batch(key, [b"x"], threads=2)
    assert len(sign_batch(key, [b"x"])) == 1  # the default drops to one thread


def test_invalid_handle_names_input_and_code_and_token_stays_usable(batch_token, signing_path):
    good = batch_key_for(batch_token, KeyType.EC_P256.value)
    bad = replace(good, handle=0x7FFF_FFF0)
    with pytest.raises(BatchSignError) as caught:
        sign_batch(bad, messages(5), threads=2)
    assert caught.value.index == 0
    assert caught.value.rv in (CKR_KEY_HANDLE_INVALID, CKR_OBJECT_HANDLE_INVALID)
    assert caught.value.function == "C_SignInit"
    assert caught.value.to_dict()["index"] == 0
    assert len(sign_batch(good, messages(5), threads=2)) == 5


def test_key_of_the_wrong_type_fails_on_the_token(batch_token, signing_path):
    # An RSA key declared as P-256: CKM_ECDSA reaches the token with an RSA key.
    rsa = batch_key_for(batch_token, KeyType.RSA2048.value)
    lying = replace(rsa, key_type=KeyType.EC_P256)
    with pytest.raises(BatchSignError) as caught:
        sign_batch(lying, messages(3))
    assert caught.value.index == 0
    # SoftHSM 2.6.1 accepts the C_SignInit and fails in C_Sign with CKR_GENERAL_ERROR;
    # the spec would have C_SignInit return CKR_KEY_TYPE_INCONSISTENT.
    assert caught.value.rv in (CKR_GENERAL_ERROR, CKR_KEY_TYPE_INCONSISTENT)
    assert caught.value.function in ("C_SignInit", "C_Sign")
    signature = batch_token.sign(KeyType.RSA2048.value, b"still")
    assert batch_token.verify(KeyType.RSA2048.value, b"still", signature)


def test_key_deleted_mid_stream_stops_at_the_chunk_that_failed(batch_token, signing_path):
    batch_token.generate_key(KeyType.EC_P256, f"doomed-{signing_path}")
    key = batch_key_for(batch_token, f"doomed-{signing_path}")
    stream = sign_many(key, messages(100), chunk_size=10, threads=2)
    received = [next(stream) for _ in range(15)]
    batch_token.delete_key(f"doomed-{signing_path}")
    with pytest.raises(BatchSignError) as caught:
        received.extend(stream)
    assert caught.value.index == 20  # inputs 15-19 were signed with the first two chunks
    assert len(received) == 20
    assert len(sign_batch(batch_key_for(batch_token, KeyType.EC_P256.value), messages(4))) == 4
