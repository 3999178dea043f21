"""A worker's side of its key's gate: the engine's own Limiter and Budget, taking start tokens
from leases and budget room from reservations that the whole cluster shares."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import anyio

from batchgen.cluster.gate import KeyGate, Lease, Reservation
from batchgen.cluster.liveness import StartGuard
from batchgen.errors import BudgetExceeded
from batchgen.run.adaptive import DEFAULT_CEILING
from batchgen.run.budget import Budget
from batchgen.run.limits import Limiter, Permit

RESERVE_POLL_S = 0.05  # a reservation that must wait for requests in flight asks again after
REFILL_PAUSE_S = 0.01  # a lease that gave nothing usable (a slow round trip) is asked again after


class GateClient(Protocol):
    """How a worker reaches its key's gate: the two asks it awaits, the notes it only sends."""

    async def lease(self, want: int) -> Lease: ...

    async def reserve(self, worst_usd: float) -> Reservation: ...

    def settle(self, reserved_usd: float, actual_usd: float) -> None: ...

    def cool_down(self, seconds: float) -> None: ...

    def overloaded(self) -> None: ...


class LocalGate:
    """A gate in this process (unit tests, and the sizing of the spacing without Ray)."""

    def __init__(self, gate: KeyGate, worker: str) -> None:
        self.gate, self.worker = gate, worker

    async def lease(self, want: int) -> Lease:
        return self.gate.lease(self.worker, want)

    async def reserve(self, worst_usd: float) -> Reservation:
        return self.gate.reserve(self.worker, worst_usd)

    def settle(self, reserved_usd: float, actual_usd: float) -> None:
        self.gate.settle(self.worker, reserved_usd, actual_usd)

    def cool_down(self, seconds: float) -> None:
        self.gate.cool_down(seconds)

    def overloaded(self) -> None:
        self.gate.overloaded()


class TokenPool:
    """Start tokens of this worker's leases, each usable from its time until `valid_s` after it
    as this worker's clock can prove: from (answer received + delay) to (ask sent + delay +
    valid_s). A lease whose round trip exceeds valid_s gives nothing usable and is asked again."""

    def __init__(
        self,
        gate: GateClient,
        *,
        on_lease: Callable[[Lease], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gate = gate
        self._on_lease = on_lease
        self._clock = clock
        self._tokens: deque[tuple[float, float]] = deque()  # (not before, not after)
        self._lock = anyio.Lock()
        self._wanting = 0
        self.expired = 0  # tokens this worker could not use in time (a loaded machine)

    async def take(self) -> None:
        """Wait for a token's time and use it; a token missed (a late wake-up) is dropped."""
        self._wanting += 1
        try:
            while True:
                async with self._lock:
                    token = self._next()
                    if token is None:
                        await self._refill()
                        token = self._next()
                if token is None:  # the answer came too late to prove any token valid
                    await anyio.sleep(REFILL_PAUSE_S)
                    continue
                not_before, not_after = token
                if (wait := not_before - self._clock()) > 0:
                    await anyio.sleep(wait)
                if self._clock() <= not_after:
                    return
                self.expired += 1
        finally:
            self._wanting -= 1

    def _next(self) -> tuple[float, float] | None:
        now = self._clock()
        while self._tokens and self._tokens[0][1] < now:
            self._tokens.popleft()
            self.expired += 1
        return self._tokens.popleft() if self._tokens else None

    async def _refill(self) -> None:
        sent = self._clock()
        lease = await self._gate.lease(max(self._wanting, 1))
        received = self._clock()
        for delay in lease.delays_s:
            not_before, not_after = received + delay, sent + delay + lease.valid_s
            if not_after > not_before:
                self._tokens.append((not_before, not_after))
        self._on_lease(lease)


class ClusterLimiter(Limiter):
    """The engine's Limiter with the rate limit, cool-downs and adaptive shrinks of the
    whole cluster; concurrency stays this worker's share."""

    def __init__(
        self,
        gate: GateClient,
        *,
        concurrency: int | None,
        max_concurrency: int = DEFAULT_CEILING,
        clock: Callable[[], float] = time.monotonic,
        starts: StartGuard | None = None,
    ) -> None:
        super().__init__(concurrency=concurrency, max_concurrency=max_concurrency, clock=clock)
        self._gate = gate
        self._starts = starts
        self._pool = TokenPool(gate, on_lease=self._follow, clock=clock)
        self._shrinks_seen = 0

    def __repr__(self) -> str:
        return f"Cluster{super().__repr__()}"

    async def _wait_for_rate(self) -> None:
        # the driver's permission first, while this request holds its slot (see
        # cluster/liveness.py); then the token, so its lateness is not the permission's trip
        if self._starts is not None:
            await self._starts.permit()
        await self._pool.take()

    def cool_down(self, seconds: float) -> None:
        super().cool_down(seconds)
        self._gate.cool_down(seconds)

    def feedback(self, permit: Permit, *, overloaded: bool, named: bool = False) -> None:
        epoch = self._aimd.epoch if self._aimd is not None else 0
        super().feedback(permit, overloaded=overloaded, named=named)
        if self._aimd is not None and self._aimd.epoch > epoch:  # a stray 429 need not shrink
            self._shrinks_seen += 1  # this one is ours: shrunk already
            self._gate.overloaded()

    def _follow(self, lease: Lease) -> None:
        """What another worker's answers asked of everyone: a cool-down, a shrink."""
        if lease.cool_down_s > 0:
            super().cool_down(lease.cool_down_s)
        if lease.shrinks > self._shrinks_seen and self._aimd is not None:
            self._aimd.overloaded(started_in=self._aimd.epoch, named=True)  # shrink now
            self._slots.total_tokens = self._aimd.tokens
        self._shrinks_seen = max(self._shrinks_seen, lease.shrinks)

    @property
    def tokens_expired(self) -> int:
        return self._pool.expired


class ClusterBudget(Budget):
    """The engine's Budget with its reservations held by the gate, for the whole cluster."""

    def __init__(self, gate: GateClient, max_usd: float) -> None:
        super().__init__(max_usd)
        self._gate = gate

    async def claim(self, worst_case_usd: float) -> None:
        while True:
            answer = await self._gate.reserve(worst_case_usd)
            if answer.answer == "ok":
                self.reserved_usd += worst_case_usd
                self.in_flight += 1
                return
            if answer.answer == "never":
                raise BudgetExceeded(
                    f"budget reached: the next request could pass ${answer.max_usd:g}"
                )
            await anyio.sleep(RESERVE_POLL_S)

    def settle(self, reserved_usd: float, actual_usd: float) -> None:
        super().settle(reserved_usd, actual_usd)
        self._gate.settle(reserved_usd, actual_usd)
