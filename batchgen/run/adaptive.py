"""Finding a server's unknown concurrency limit from its refusals (pure).

The signal is loss, not latency: providers enforce limits by refusing (429/503), not by
queueing, so latency does not rise before the limit. The shape is TCP's, simplified from
CUBIC: slow start until the first overload; on overload x0.9 (at most once per generation
of requests, so a burst of 429s from one overshoot counts once) and remember where it
happened; climb back +1 per window of successes, linger just below that mark (few probes,
few 429s), and past it grow faster and faster (the server's capacity came back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_START = 4
DEFAULT_CEILING = 256
DECREASE = 0.9
PLATEAU = 0.125  # +1 per 8 windows just below the last overload: probe it rarely


@dataclass(slots=True)
class Aimd:
    limit: float = DEFAULT_START
    floor: int = 1
    ceiling: int = DEFAULT_CEILING
    epoch: int = 0  # bumped by each decrease; requests remember the epoch they started in
    slow_start: bool = True
    overload_at: float = math.inf  # the limit when the server last refused
    speed: float = 1.0  # past overload_at: +speed per window, and speed grows

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
        self.limit = min(float(self.ceiling), self.limit + self._step())

    def _step(self) -> float:
        if self.slow_start:
            return 1.0
        window = self.limit  # successes per window of requests
        if self.limit < self.overload_at - 1:
            return 1.0 / window
        if self.limit < self.overload_at:
            return PLATEAU / window
        self.speed += 1.0 / window  # +1, +2, +3 ... per window: back to a risen capacity fast
        return self.speed / window

    def overloaded(self, *, started_in: int) -> None:
        """The server refused for load; shrink once per generation of requests."""
        if started_in != self.epoch:
            return  # sent before the last decrease: that overshoot is already answered
        self.slow_start = False
        self.overload_at = self.limit
        self.speed = 1.0
        self.limit = max(float(self.floor), self.limit * DECREASE)
        self.epoch += 1
