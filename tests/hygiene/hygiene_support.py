"""Secret-hygiene helpers: distinctive PINs and a finder for them in any form."""

from __future__ import annotations

import codecs
from collections.abc import Iterable

# Distinctive values: none of them can appear in output by chance.
USER_PIN = "Qz7pin4X"
SO_PIN = "Qz7so9Wv2"
NEW_PIN = "Nw3pin8Ykq"
WRONG_PIN = "Wr9pin5Jx"
WEAK_PIN = "Qz7Qz7"  # a repeated unit: refused by the policy
CARD_WRONG_PIN = "Qz7bad1X"
ALL_PINS = (USER_PIN, SO_PIN, NEW_PIN, WRONG_PIN, WEAK_PIN, CARD_WRONG_PIN, "123456", "12345678")


def forms(pin: str) -> list[bytes]:
    """How a PIN could show up: text, hex (both cases), UTF-16 (both orders), as bytes."""
    raw = pin.encode()
    return [raw, raw.hex().encode(), raw.hex().upper().encode(), pin.encode("utf-16-le"),
            pin.encode("utf-16-be"), " ".join(f"{b:02X}" for b in raw).encode(),
            codecs.encode(raw, "base64").strip()]


def leaks(blob: str | bytes, pins: Iterable[str] = ALL_PINS) -> list[str]:
    """The PINs found in ``blob`` in any of their forms (empty when clean)."""
    data = blob.encode("utf-8", "surrogateescape") if isinstance(blob, str) else blob
    return [pin for pin in pins if any(form in data for form in forms(pin))]
