"""Finding a server's unknown concurrency limit from its refusals (pure).

The signal is loss, not latency: providers enforce limits by refusing (429/503), not by
queueing, so latency does not rise before the limit. The shape is TCP's, simplified from
CUBIC: slow start until the first overload; on overload x0.9 and remember where it
happened; climb back +1 per window of successes, linger just below that mark (few probes,
few 429s), and past it grow faster and faster (the server's capacity came back).

Not every refusal is load: providers also refuse at random, or for a shared pool this client
does not fill. A refusal the server names as this client's own limit (a quota, a request limit
with none remaining) is load: it shrinks the limit at once, once per generation. Any other
shrinks it only when one window of answers holds more refusals than the stray share gives by
chance (below 1 in 200); each shrink opens a new window, and refusals of an older generation
count too (a loaded client's answers lag: waiting a generation per step would overshoot for
long). Past its capacity a server refuses in a flood (a refusal comes back at once and its slot
is reused at once), so the wait costs a few refusals; strays keep to a steady share. The share
is assumed to be 5% and learnt, never higher, from the windows that pass. While a window holds
a refusal, slow start stops doubling. The cost: when refusals come as slowly as successes (no
flood), an overshoot refusing about that share or less is not seen (tests/test_adaptive.py
bounds it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_START = 4
DEFAULT_CEILING = 256
DECREASE = 0.9
PLATEAU = 0.125  # +1 per 8 windows just below the last overload: probe it rarely
MIN_WINDOW = 32  # answers judged together at the least: a few tell too little
CHANCE = 0.005  # a window's refusals are load when the stray share gives them less often
LEAST_REFUSALS = 2  # one refusal never shrinks the limit: a stray one must not
PRIOR_SHARE = 0.05  # the stray share assumed until enough answers have taught it
KNOWN_AFTER = 64  # answers learnt before the learnt share replaces the prior
LEARN_ANSWERS = 512  # the share is a running mean over about this many answers
MOST_SHARE = PRIOR_SHARE  # learning only makes the test stricter: never more tolerant


@dataclass(slots=True)
class Aimd:
    limit: float = DEFAULT_START
    floor: int = 1
    ceiling: int = DEFAULT_CEILING
    epoch: int = 0  # bumped by each decrease; requests remember the epoch they started in
    slow_start: bool = True
    overload_at: float = math.inf  # the limit when the server last refused for load
    speed: float = 1.0  # past overload_at: +speed per window, and speed grows
    stray_share: float = 0.0  # refusals that come whatever the load, per answer (learnt)
    learnt: int = 0  # answers the share is drawn from (capped at LEARN_ANSWERS)
    seen: int = 0  # answers to this epoch's requests in the current window
    refused: int = 0  # of which refusals
    streak: int = 0  # refusals in a row, no success between

    def __post_init__(self) -> None:
        if not 1 <= self.floor <= self.limit <= self.ceiling:
            bounds = f"{self.floor}, {self.limit}, {self.ceiling}"
            raise ValueError(f"need 1 <= floor <= limit <= ceiling, got {bounds}")

    @property
    def tokens(self) -> int:
        return max(self.floor, math.floor(self.limit))

    @property
    def window(self) -> int:
        return max(MIN_WINDOW, self.tokens)

    @property
    def background(self) -> float:
        """The stray share the refusals are judged against: the prior until it is learnt."""
        return self.stray_share if self.learnt >= KNOWN_AFTER else PRIOR_SHARE

    def needed(self) -> int:
        """Refusals in one window that mean load: more than the stray share gives by chance."""
        return max(LEAST_REFUSALS, least_unlikely(self.window, self.background, CHANCE))

    def needed_in_a_row(self) -> int:
        """Refusals in a row that mean load: a flood past the capacity refuses request after
        request, strays seldom come two or three together."""
        return max(LEAST_REFUSALS, least_run(self.window, self.background, CHANCE))

    def succeeded(self, *, saturated: bool) -> None:
        """A request went through; grow only if the limit was what held us back."""
        self._count_success()
        if not saturated:
            return
        self.limit = min(float(self.ceiling), self.limit + self._step())

    def _step(self) -> float:
        if self.slow_start and not self.refused:
            return 1.0
        if self.slow_start:  # a refusal in this window: stop doubling until it is judged
            return 1.0 / self.limit
        window = self.limit  # successes per window of requests
        if self.limit < self.overload_at - 1:
            return 1.0 / window
        if self.limit < self.overload_at:
            return PLATEAU / window
        self.speed += 1.0 / window  # +1, +2, +3 ... per window: back to a risen capacity fast
        return self.speed / window

    def overloaded(self, *, started_in: int, named: bool = False) -> None:
        """The server refused, perhaps for load. `named`: it said this client is over its own
        limit, so it is load for sure: shrink once per generation of requests. Otherwise
        shrink when this window's refusals (of any generation: a lagging overshoot keeps
        refusing after a decrease) are more than chance; each shrink starts a new window."""
        if named:
            if started_in == self.epoch:  # else sent before the last decrease: answered
                self._decrease()
            return
        self.seen += 1
        self.refused += 1
        self.streak += 1
        if self.streak >= self.needed_in_a_row() or self.refused >= self.needed():
            self._decrease()
        elif self.seen >= self.window:
            self._end_window()

    def _decrease(self) -> None:
        self.slow_start = False
        self.overload_at = self.limit
        self.speed = 1.0
        self.limit = max(float(self.floor), self.limit * DECREASE)
        self.epoch += 1
        self._next_window()  # an overloaded window teaches nothing about strays

    def _count_success(self) -> None:
        self.streak = 0
        self.seen += 1
        if self.seen >= self.window:
            self._end_window()

    def _end_window(self) -> None:
        """A window passed with no overload: fold its refusals into the stray share. Some may
        be load that slipped through (a probe, a lagging client's burst): the cap at the prior
        keeps them from making the test more tolerant than it began; with no strays the share
        falls, and the test tightens toward one refusal more than chance."""
        total = self.learnt + self.seen
        share = (self.stray_share * self.learnt + self.refused) / total
        self.stray_share = min(share, MOST_SHARE)
        self.learnt = min(total, LEARN_ANSWERS)
        self._next_window()

    def _next_window(self) -> None:
        self.seen = self.refused = self.streak = 0


def least_unlikely(answers: int, share: float, chance: float) -> int:
    """The fewest refusals among `answers` that a stray `share` gives with probability below
    `chance` (the binomial tail)."""
    if share <= 0.0:
        return 1
    if share >= 1.0:
        return answers + 1
    term = (1.0 - share) ** answers  # P(exactly k), from k = 0
    below = 0.0
    for k in range(answers + 1):
        below += term
        if 1.0 - below < chance:
            return k + 1
        term *= (answers - k) / (k + 1) * share / (1.0 - share)
    return answers + 1


def least_run(answers: int, share: float, chance: float) -> int:
    """The shortest run of refusals in a row that a stray `share` gives, somewhere among
    `answers`, with probability below about `chance` (answers x share^k)."""
    if share <= 0.0:
        return 1
    if share >= 1.0:
        return answers + 1
    run = 1
    while run <= answers and answers * share**run >= chance:
        run += 1
    return run
