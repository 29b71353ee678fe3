"""What a hall of counters adds to the workflow: each counter's name, and work left at another counter.

Counters in a hall share one journal (PostgreSQL) but each has its own USB-Keys. An enrolment
that has begun writing to a token belongs to the counter where that token is: another counter
resuming the holder would find no token and start on a new one, leaving the first key behind.
So such an enrolment is left to its own counter (``HeldElsewhere``), and only one that has not
touched a token yet may move.
"""

from __future__ import annotations

import os
import socket

from ..errors import JournalError

__all__ = ["COUNTER_ENV", "HeldElsewhere", "counter_name"]

#: Names this counter in a hall (default: the machine's host name, one counter per machine).
COUNTER_ENV = "SITOKEN_COUNTER"


def counter_name() -> str:
    return os.environ.get(COUNTER_ENV) or socket.gethostname()


class HeldElsewhere(JournalError):
    """The holder's unfinished enrolment has its token at another counter: resume it there."""

    code = "held-elsewhere"

    def __init__(self, subject: str, enrolment: int, counter: str, state: str) -> None:
        self.counter, self.enrolment = counter, enrolment
        super().__init__(f"{subject}: enrolment {enrolment} is in progress at counter {counter} (at {state}; "
                         f"its token is there): resume it at that counter")

    def held_by(self) -> dict[str, object]:
        return {"counter": self.counter, "enrolment": self.enrolment}
