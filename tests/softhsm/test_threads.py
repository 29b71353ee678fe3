"""Many threads signing on one SoftHSM token: never a crash, never a wrong signature.

With python-pkcs11's own NULL initialisation this crashes SoftHSM (PERF-BASELINE.md §4);
sitoken re-initialises the module with CKF_OS_LOCKING_OK, and this test holds it to that.
"""

from __future__ import annotations

import threading

import pytest

from sitoken import pubkey
from sitoken.pkcs11 import Pkcs11Token
from sitoken.token import KeyType, Mechanism

pytestmark = pytest.mark.softhsm

THREADS = 4
ROUNDS = 3


def _run_threads(token: Pkcs11Token, label: str, mechanism: Mechanism, per_thread: int) -> list[tuple[bytes, bytes]]:
    results: list[tuple[bytes, bytes]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def work(n: int) -> None:
        try:
            start.wait(timeout=30)
            mine = []
            for i in range(per_thread):
                data = f"thread {n} record {i}".encode()
                mine.append((data, token.sign(label, data, mechanism)))
            with lock:
                results.extend(mine)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a signing thread hung"
    assert not errors, errors[0]
    return results


# Without CKF_OS_LOCKING_OK (flags 0) both cases fail in each of several runs, mostly in the first
# round (CKR_GENERAL_ERROR from C_FindObjectsInit/C_SignInit, or a SIGSEGV) already at 100 and 20
# signatures per thread: 300 and 100 keep a wide margin, at a fifth of the time the EC case took.
@pytest.mark.parametrize(
    ("key_type", "mechanism", "per_thread"),
    [(KeyType.EC_P256, Mechanism.ECDSA_SHA256, 300), (KeyType.RSA2048, Mechanism.RSA_PKCS_SHA256, 100)],
)
@pytest.mark.timeout(600)  # thousands of signatures on a loaded shared machine
def test_threads_sign_safely(token: Pkcs11Token, key_type: KeyType, mechanism: Mechanism, per_thread: int) -> None:
    token.generate_key(key_type, "shared")
    spki = token.public_key_der("shared")
    for _ in range(ROUNDS):
        results = _run_threads(token, "shared", mechanism, per_thread)
        assert len(results) == THREADS * per_thread
        # Check a spread sample on the host (all of them for RSA, which is slow to sign anyway).
        step = 1 if key_type.family == "rsa" else 37
        for data, sig in results[::step]:
            assert pubkey.verify_host(spki, data, sig, mechanism)


def test_each_thread_has_its_own_session(token: Pkcs11Token) -> None:
    handles: list[int] = []
    lock = threading.Lock()

    def grab() -> None:
        with lock:
            handles.append(token.session().handle)

    threads = [threading.Thread(target=grab) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(handles)) == THREADS
