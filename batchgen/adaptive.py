"""Finding a server's unknown concurrency limit: additive increase, multiplicative decrease (pure).

The signal is loss, not latency: providers enforce limits by refusing (429/503), not by
queueing, so latency does not rise before the limit. Like TCP Reno: slow start (+1 per
success) until the first overload, then +1 per window of successes; on overload x0.9, at
most once per generation of requests (a burst of 429s from one overshoot counts once).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_START = 4
DEFAULT_CEILING = 256
DECREASE = 0.9


@dataclass(slots=True)
class Aimd:
    limit: float = DEFAULT_START
    floor: int = 1
    ceiling: int = DEFAULT_CEILING
    epoch: int = 0  # bumped by each decrease; requests remember the epoch they started in
    slow_start: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.floor <= self.limit <= self.ceiling:
            bounds = f"{self.floor}, {self.limit}, {self.ceiling}"
            raise ValueError(f"need 1 <= floor <= limit <= ceiling, got {bounds}")

    @property
    def tokens(self) -> int:
        return max(self.floor, math.floor(self.limit))

    def succeeded(self, *, saturated: bool) -> None:
        """A request went through; grow only if the limit was what held us back."""
        if not saturated:
            return
        step = 1.0 if self.slow_start else 1.0 / self.limit
        self.limit = min(float(self.ceiling), self.limit + step)

    def overloaded(self, *, started_in: int) -> None:
        """The server refused for load; shrink once per generation of requests."""
        if started_in != self.epoch:
            return  # sent before the last decrease: that overshoot is already answered
        self.slow_start = False
        self.limit = max(float(self.floor), self.limit * DECREASE)
        self.epoch += 1
