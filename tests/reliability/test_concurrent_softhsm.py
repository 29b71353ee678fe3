"""Many threads signing on one SoftHSM token while other threads list, look up and check PINs.

Signers and readers share one ``Pkcs11Token`` (one session per thread, one module initialised
with OS locking). Every signature is checked on the host, and the counts must add up: nothing
signed twice, nothing lost, no reader call failing.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest

from sitoken import pubkey
from sitoken.discovery import list_tokens
from sitoken.pkcs11 import Pkcs11Token
from sitoken.signing.batch import batch_key_for, sign_many
from sitoken.token import KeyType, Mechanism

pytestmark = pytest.mark.softhsm

SIGNERS = 4
RECORDS_PER_SIGNER = 300
READERS = 4
JOIN_S = 120  # a bound on a hang, not a timing assertion


def _record(signer: int, n: int) -> bytes:
    return f"signer {signer} record {n}".encode()


def test_signers_and_readers_share_a_token(token: Pkcs11Token) -> None:
    token.generate_key(KeyType.EC_P256, "ec")
    token.generate_key(KeyType.RSA2048, "rsa")
    spki = {"ec": token.public_key_der("ec"), "rsa": token.public_key_der("rsa")}
    mechanism = {"ec": Mechanism.ECDSA_SHA256, "rsa": Mechanism.RSA_PKCS_SHA256}
    signed: dict[tuple[int, int], tuple[str, bytes]] = {}
    reads: Counter[str] = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()
    signers_done = threading.Event()
    start = threading.Barrier(SIGNERS + READERS + 1)

    def signer(n: int) -> None:
        key = "rsa" if n == 0 else "ec"  # one slow RSA signer among fast EC ones
        count = RECORDS_PER_SIGNER // 10 if key == "rsa" else RECORDS_PER_SIGNER
        start.wait(timeout=30)
        for i in range(count):
            signature = token.sign(key, _record(n, i), mechanism[key])
            with lock:
                assert (n, i) not in signed, "a record was signed twice"
                signed[(n, i)] = (key, signature)

    readers: list[tuple[str, Callable[[], object]]] = [
        ("list-tokens", lambda: [t.label for t in list_tokens("sim")]),
        ("pin-status", lambda: token.pin_status()),
        ("list-keys", lambda: token.keys()),
        ("find-key", lambda: (token.find_key("ec"), token.find_key("id:" + token.find_key("rsa").id))),
    ]

    def reader(name: str, call: Callable[[], object]) -> None:
        start.wait(timeout=30)
        while not signers_done.is_set():
            result = call()
            assert result, f"{name} returned nothing"
            with lock:
                reads[name] += 1

    def guarded(target: Callable[..., None], *args: object) -> Callable[[], None]:
        def run() -> None:
            try:
                target(*args)
            except BaseException as exc:  # re-raised in the main thread
                errors.append(exc)
                signers_done.set()

        return run

    signer_threads = [threading.Thread(target=guarded(signer, n)) for n in range(SIGNERS)]
    reader_threads = [threading.Thread(target=guarded(reader, name, call)) for name, call in readers]
    for t in signer_threads + reader_threads:
        t.start()
    start.wait(timeout=30)
    for t in signer_threads:
        t.join(JOIN_S)
    signers_done.set()
    for t in reader_threads:
        t.join(JOIN_S)
    assert not any(t.is_alive() for t in signer_threads + reader_threads), "a thread hung"
    assert not errors, repr(errors[0])

    expected = {(n, i) for n in range(SIGNERS)
                for i in range(RECORDS_PER_SIGNER // 10 if n == 0 else RECORDS_PER_SIGNER)}
    assert set(signed) == expected, "records lost"
    bad = [rec for rec, (key, sig) in signed.items()
           if not pubkey.verify_host(spki[key], _record(*rec), sig, mechanism[key])]
    assert bad == []
    assert set(reads) == {name for name, _ in readers}, f"a reader never completed a call: {reads}"
    # The token's state came through unharmed: still logged in, keys intact, PIN not counted down.
    assert not token.pin_status().count_low
    assert sorted(k.label for k in token.keys()) == ["ec", "rsa"]


def test_batch_signing_alongside_single_signatures(token: Pkcs11Token) -> None:
    """The batch signer (native when built) and per-call signing on the same key at the same time."""
    token.generate_key(KeyType.EC_P256, "shared")
    spki = token.public_key_der("shared")
    batch_inputs = [f"batch {i}".encode() for i in range(3000)]
    single: list[tuple[bytes, bytes]] = []
    errors: list[BaseException] = []

    def one_by_one() -> None:
        try:
            for i in range(300):
                data = f"single {i}".encode()
                single.append((data, token.sign("shared", data)))
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=one_by_one)
    worker.start()
    batch = list(sign_many(batch_key_for(token, "shared"), batch_inputs, threads=2))
    worker.join(JOIN_S)
    assert not worker.is_alive() and not errors, errors
    assert len(batch) == len(batch_inputs) and len(single) == 300
    for data, sig in [*zip(batch_inputs, batch, strict=True), *single]:
        assert pubkey.verify_host(spki, data, sig, Mechanism.ECDSA_SHA256)
