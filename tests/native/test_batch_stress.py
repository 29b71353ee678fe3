"""Many batches from several Python threads at once, each batch on several C threads: no crash,
every signature in its place."""

from __future__ import annotations

import threading

import pytest
from helpers_native import verifies

from sitoken.signing.batch import batch_key_for, sign_batch
from sitoken.token import KeyType, Mechanism

pytestmark = [pytest.mark.softhsm, pytest.mark.native, pytest.mark.slow]

CALLERS, ROUNDS, SIZE = 4, 12, 120


def test_concurrent_batches_keep_order(batch_token, signing_path):
    ed = batch_key_for(batch_token, KeyType.ED25519.value)
    p256 = batch_key_for(batch_token, KeyType.EC_P256.value)
    data = [
        [b"c%d-r%d-i%d" % (c, r, i) for i in range(SIZE)]
        for c in range(CALLERS)
        for r in range(ROUNDS)
    ]
    # Ed25519 is deterministic, so one sequential pass gives the expected answers.
    expected = [sign_batch(ed, d, threads=1, chunk_size=SIZE) for d in data]
    failures: list[BaseException] = []
    results: dict[tuple[int, int], tuple[list[bytes], list[bytes]]] = {}

    def caller(c: int) -> None:
        try:
            for r in range(ROUNDS):
                d = data[c * ROUNDS + r]
                results[c, r] = (sign_batch(ed, d, threads=2, chunk_size=25),
                                 sign_batch(p256, d, threads=2, chunk_size=40))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=caller, args=(c,)) for c in range(CALLERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    public = batch_token.public_key_der(KeyType.EC_P256.value)
    for (c, r), (ed_sigs, ec_sigs) in results.items():
        d = data[c * ROUNDS + r]
        assert ed_sigs == expected[c * ROUNDS + r]
        pairs = zip(d, ec_sigs, strict=True)
        assert all(verifies(public, Mechanism.ECDSA_SHA256, m, s) for m, s in pairs)
    assert len(results) == CALLERS * ROUNDS
