"""One API key's limits for a whole cluster, as plain state (the limiter actor wraps it): start
tokens handed out in small leases, a shared cool-down and shrink signal, budget reservations.

The sliding-window promise ("never more than rpm starts in any 60 s") across processes: tokens
are start times spaced `spacing_s` apart on this object's clock; a worker may use a token only
within `valid_s` after its time (it checks with its own clock and the lease's round trip, see
cluster/lease.py), so the starts of any 60 s fall on tokens from at most 60 + valid_s seconds,
and the spacing is widened to keep even those at rpm or fewer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_VALID_S = 0.25  # how late a token may be used; it widens the spacing by valid_s / 60
LEASE_S = 1.0  # a lease covers at most this much of the schedule: few starts slip a cool-down
MAX_LEASE = 64  # tokens in one lease, at most


@dataclass(frozen=True, slots=True)
class Lease:
    """Start tokens as delays from the moment the gate answered, how long each stays valid,
    and what every worker must follow: the shrink signal's count and the cool-down left."""

    delays_s: tuple[float, ...]
    valid_s: float
    shrinks: int
    cool_down_s: float


@dataclass(frozen=True, slots=True)
class Reservation:
    """The budget's answer: "ok" (room is reserved), "wait" (requests in flight may free
    room) or "never" (it cannot fit even with nothing in flight)."""

    answer: str
    max_usd: float | None = None


@dataclass(slots=True)
class _Worker:
    reserved_usd: float = 0.0
    in_flight: int = 0


@dataclass(slots=True)
class GateStatistics:
    tokens: int = 0
    leases: int = 0
    cool_downs: int = 0
    shrinks: int = 0
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    lost_usd: float = 0.0  # reservations of dead workers, counted as spent (they may have paid)
    workers_lost: int = 0
    per_worker: dict[str, int] = field(default_factory=dict)


def spacing_for(requests_per_minute: float, valid_s: float) -> float:
    """Seconds between tokens: the rpm's even spacing, widened so tokens used up to valid_s
    late still put at most rpm starts in any 60 s (at most 1 per 60/rpm s below 1 rpm)."""
    if requests_per_minute < 1:
        return 60.0 / requests_per_minute + valid_s
    return max(60.0 / requests_per_minute, (60.0 + valid_s) / math.floor(requests_per_minute))


class KeyGate:
    """The cluster's limits for one API key; every call is quick and never waits."""

    def __init__(
        self,
        *,
        requests_per_minute: float | None,
        max_usd: float | None,
        spent_before_usd: float = 0.0,
        valid_s: float = DEFAULT_VALID_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if requests_per_minute is not None and not requests_per_minute > 0:
            raise ValueError(f"requests_per_minute must be > 0, got {requests_per_minute}")
        if max_usd is not None and not max_usd > 0:
            raise ValueError(f"max_usd must be > 0, got {max_usd}")
        if not valid_s > 0:
            raise ValueError(f"valid_s must be > 0, got {valid_s}")
        self._spacing = spacing_for(requests_per_minute, valid_s) if requests_per_minute else 0.0
        self._max_usd = max_usd
        self._spent_usd = spent_before_usd
        self._valid_s = valid_s
        self._clock = clock
        self._next_at = -math.inf
        self._resume_at = -math.inf
        self._workers: dict[str, _Worker] = {}
        self.stats = GateStatistics()

    def __repr__(self) -> str:
        return f"KeyGate(spacing_s={self._spacing!r}, max_usd={self._max_usd!r})"

    # --- start tokens ------------------------------------------------------------------------
    def lease(self, worker: str, want: int) -> Lease:
        """Up to `want` start tokens from the shared schedule (at least one)."""
        now = self._clock()
        count = max(1, min(want, MAX_LEASE))
        start = max(self._next_at, now, self._resume_at)
        if self._spacing > 0:
            count = min(count, max(1, int(LEASE_S / self._spacing)))
        times = [start + i * self._spacing for i in range(count)]
        self._next_at = (times[-1] + self._spacing) if self._spacing > 0 else -math.inf
        self.stats.tokens += count
        self.stats.leases += 1
        self.stats.per_worker[worker] = self.stats.per_worker.get(worker, 0) + count
        return Lease(
            delays_s=tuple(at - now for at in times),
            valid_s=self._valid_s,
            shrinks=self.stats.shrinks,
            cool_down_s=max(self._resume_at - now, 0.0),
        )

    def cool_down(self, seconds: float) -> None:
        """A server said Retry-After: no token is scheduled before it has passed."""
        self._resume_at = max(self._resume_at, self._clock() + seconds)
        self.stats.cool_downs += 1

    def overloaded(self) -> int:
        """A worker saw a 429/503: every worker's adaptive limit shrinks once (told by the
        count in the next lease)."""
        self.stats.shrinks += 1
        return self.stats.shrinks

    # --- the budget --------------------------------------------------------------------------
    def reserve(self, worker: str, worst_usd: float) -> Reservation:
        committed = self._spent_usd + self.stats.reserved_usd + worst_usd
        if self._max_usd is not None and committed > self._max_usd + 1e-9:
            busy = any(w.in_flight for w in self._workers.values())
            return Reservation("wait" if busy else "never", self._max_usd)
        held = self._workers.setdefault(worker, _Worker())
        held.reserved_usd += worst_usd
        held.in_flight += 1
        self.stats.reserved_usd += worst_usd
        return Reservation("ok", self._max_usd)

    def settle(self, worker: str, reserved_usd: float, actual_usd: float) -> None:
        held = self._workers.setdefault(worker, _Worker())
        held.reserved_usd = max(held.reserved_usd - reserved_usd, 0.0)
        held.in_flight = max(held.in_flight - 1, 0)
        self.stats.reserved_usd = max(self.stats.reserved_usd - reserved_usd, 0.0)
        self._spent_usd += actual_usd
        self.stats.spent_usd += actual_usd

    def forget(self, worker: str) -> None:
        """A worker died: its requests in flight may have been paid, so their reservations
        stay counted, as spent; its unused tokens simply expire (valid_s after their time)."""
        held = self._workers.pop(worker, None)
        self.stats.workers_lost += 1
        if held is None:
            return
        self.stats.reserved_usd = max(self.stats.reserved_usd - held.reserved_usd, 0.0)
        self._spent_usd += held.reserved_usd
        self.stats.lost_usd += held.reserved_usd
