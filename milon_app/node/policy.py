"""Whether this node takes the epochs the contract assigned it.

A contributor lends a machine it also uses: limits on epochs, hours of the
day and device keep MILON from taking work the owner does not want done.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from milon_app.errors import BadInputError


@dataclass(frozen=True)
class AcceptPolicy:
    mode: str = "auto"  # auto: accept within limits; manual: leave it to the user; never
    max_epochs: int = 10_000
    hours: tuple[int, int] | None = None  # local hours [start, end) when work is accepted
    max_epsilon: float = 0.0  # privacy ceiling per job (config privacy.max_epsilon); 0: none

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "manual", "never"):
            raise BadInputError(f"accept policy mode {self.mode!r}: expected auto, manual or never")
        if self.max_epochs < 1:
            raise BadInputError(f"accept policy max_epochs must be >= 1, got {self.max_epochs}")
        if self.hours is not None:
            start, end = self.hours
            if not (0 <= start <= 23 and 0 <= end <= 24 and start != end):
                raise BadInputError(f"accept policy hours {self.hours}: expected [0-23, 0-24)")
        if not self.max_epsilon >= 0:  # also refuses NaN
            raise BadInputError(f"privacy max_epsilon must be >= 0, got {self.max_epsilon}")

    def decide(self, epochs: int, now: dt.datetime | None = None) -> tuple[bool | None, str]:
        """(True/False, reason) for auto decisions, (None, reason) when the user must decide."""
        if self.mode == "never":
            return False, "policy: not accepting work"
        if epochs > self.max_epochs:
            return False, f"policy: {epochs} epochs over the limit of {self.max_epochs}"
        if self.hours is not None:
            hour = (now or dt.datetime.now()).hour
            start, end = self.hours
            inside = start <= hour < end if start < end else (hour >= start or hour < end)
            if not inside:
                return False, f"policy: outside working hours {start}:00-{end}:00"
        if self.mode == "manual":
            return None, "waiting for the user's decision"
        return True, "policy: auto-accept"
