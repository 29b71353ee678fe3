"""Shared by the hostile-input tests: the tally of inputs tried, the error contract, mutators, seeds."""

from __future__ import annotations

import base64
import functools
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from asn1crypto import cms
from asn1crypto import x509 as a509
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from sitoken.certs import LocalCA, SoftwareSigner, build_csr, to_pem
from sitoken.signing.cms import sign_cms
from sitoken.token import KeyType

T = TypeVar("T")

#: Every parser call made by the suite, by parser name; conftest prints it at the end.
TALLY: Counter[str] = Counter()

def fuzz_settings(max_examples: int) -> settings:
    """Hypothesis settings for one hostile test; SITOKEN_FUZZ_EXAMPLES overrides the count."""
    by_hand = os.environ.get("SITOKEN_FUZZ_EXAMPLES", "").strip()
    return settings(
        max_examples=int(by_hand) if by_hand else max_examples,
        # No per-example deadline (the suite's profile): on a shared, loaded machine a slow
        # example is not a bug. Unbounded work still fails, by the per-test timeout.
        # The seeds (keys, a CA) are built once per run and may land inside the first example.
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def run_parser(name: str, allowed: tuple[type[BaseException], ...],
               parse: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Call a parser on hostile input; only ``allowed`` errors may come out (anything else fails).

    Returns the parser's result, or None when it refused the input with an allowed error.
    """
    TALLY[name] += 1
    try:
        return parse(*args, **kwargs)
    except allowed as exc:
        # A refusal must say what is wrong: an empty message is useless at a counter.
        assert str(exc), f"{name} raised {type(exc).__name__} without a message"
        return None


# --- mutation ------------------------------------------------------------------------------------

# Bytes that sit on the boundaries of DER and TLV length and tag encodings.
_INTERESTING = (0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0C, 0x13, 0x17, 0x18, 0x1F, 0x30,
                0x31, 0x3F, 0x7F, 0x80, 0x81, 0x82, 0x83, 0x84, 0x88, 0xA0, 0xA3, 0xBF, 0xFE, 0xFF)


@st.composite
def mutated(draw: st.DrawFn, seed: bytes, max_ops: int = 6) -> bytes:
    """``seed`` with 1..max_ops random edits: bit flips, boundary bytes, cuts, inserts, repeats."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, max_ops))):
        if not data:
            data += draw(st.binary(min_size=1, max_size=8))
            continue
        at = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(("flip", "set", "delete", "insert", "repeat", "truncate")))
        if op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[at] = draw(st.sampled_from(_INTERESTING) | st.integers(0, 255))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 64))] * draw(st.integers(1, 4))
        else:
            del data[at:]
    return bytes(data)


# Characters that break naive text handling: separators, quotes, controls, BOM, zero-width
# and full-width forms, non-ASCII digits, a lone surrogate (what os.fsdecode makes of bad bytes).
_HOSTILE_CHARS = [
    *",;=&?%\"'\n\r\t\x00\x1b\\{}[]:#/ ",
    *("\ufeff", "\u200b", "\u202e", "１", "Ｘ", "٣", "𝟗", "\udcff", "%ff", "%00", "%e4%b8"),
]


@st.composite
def mutated_text(draw: st.DrawFn, seed: str, max_ops: int = 6) -> str:
    """``seed`` with 1..max_ops character edits, favouring characters that break parsers."""
    chars = list(seed)
    pieces = st.sampled_from(_HOSTILE_CHARS) | st.text(max_size=3)
    for _ in range(draw(st.integers(1, max_ops))):
        if not chars:
            chars.append(draw(pieces))
            continue
        at = draw(st.integers(0, len(chars) - 1))
        op = draw(st.sampled_from(("replace", "delete", "insert", "repeat", "truncate")))
        if op == "replace":
            chars[at] = draw(pieces)
        elif op == "delete":
            del chars[at : at + draw(st.integers(1, 8))]
        elif op == "insert":
            chars[at:at] = [draw(pieces)]
        elif op == "repeat":
            chars[at:at] = chars[at : at + draw(st.integers(1, 40))] * draw(st.integers(1, 3))
        else:
            del chars[at:]
    return "".join(chars)


# --- seeds: well-formed inputs made by sitoken itself, once per run -----------------------------

SUBJECT = "CN=张三,OU=Individual-1,O=某社保中心,C=CN"
SIGNED_CONTENT = b"social-insurance record 0042"


@functools.cache
def _ca_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="sitoken-hostile-")) / "ca"


@functools.cache
def local_ca() -> LocalCA:
    """An EC P-256 root and issuing CA in a temporary directory."""
    return LocalCA.init(_ca_dir(), key_type=KeyType.EC_P256, with_intermediate=True)


@functools.cache
def signer() -> SoftwareSigner:
    return SoftwareSigner.generate(KeyType.EC_P256)


@functools.cache
def rsa_signer() -> SoftwareSigner:
    return SoftwareSigner.generate(KeyType.RSA2048)


@functools.cache
def csr_der() -> bytes:
    return build_csr(signer(), SUBJECT, san=["email:zhangsan@example.cn"])


@functools.cache
def leaf_der() -> bytes:
    return local_ca().issue(csr_der()).certificate


@functools.cache
def chain_ders() -> tuple[bytes, ...]:
    """Leaf, issuing CA, root."""
    return (leaf_der(), *local_ca().chain)


def root_der() -> bytes:
    return chain_ders()[-1]


def pem_bundle() -> bytes:
    return to_pem(list(chain_ders()))


@functools.cache
def p7b_der() -> bytes:
    """A certificates-only PKCS#7 bundle, the shape CAs send as .p7b."""
    signed = cms.SignedData({
        "version": "v1",
        "digest_algorithms": [],
        "encap_content_info": {"content_type": "data"},
        "certificates": [cms.CertificateChoices(name="certificate", value=a509.Certificate.load(d))
                         for d in chain_ders()],
        "signer_infos": [],
    })
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump())


def p7b_pem() -> bytes:
    body = base64.encodebytes(p7b_der())
    return b"-----BEGIN PKCS7-----\n" + body + b"-----END PKCS7-----\n"


@functools.cache
def cms_attached() -> bytes:
    return sign_cms(signer(), leaf_der(), SIGNED_CONTENT, chain=local_ca().chain, detached=False)


@functools.cache
def cms_detached() -> bytes:
    return sign_cms(signer(), leaf_der(), SIGNED_CONTENT, chain=local_ca().chain, detached=True)
