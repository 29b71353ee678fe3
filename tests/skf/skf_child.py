"""A second process on an SKF device (run by tests/skf/test_skf_processes.py): sign, or spend a wrong PIN."""

from __future__ import annotations

import sys

from sitoken import skf
from sitoken.errors import PinIncorrect
from sitoken.pin import Pin


def main(device: str, action: str, pin: str) -> int:
    with skf.open_token("skf", device) as token:
        if action == "wrong-pin":
            try:
                token.login(Pin(pin))
            except PinIncorrect as exc:
                print(exc.remaining, flush=True)
            return 0
        token.login(Pin(pin))
        for i in range(int(action)):
            sys.stdout.write(token.sign("sign1", f"child {i}".encode()).hex() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
