"""When a request may start: concurrency limit (fixed or adaptive), rate limit and a shared
cool-down, as one object."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from aiolimiter import AsyncLimiter

from batchgen.run.adaptive import DEFAULT_CEILING, DEFAULT_START, Aimd


@dataclass(frozen=True, slots=True)
class LimiterStatistics:
    concurrency: int
    adaptive: bool
    requests_per_minute: float | None
    in_flight: int
    max_in_flight: int
    started: int
    overloads: int


@dataclass(frozen=True, slots=True)
class Permit:
    """A slot held by one request: how long it waited, and when (for the adaptive limit)."""

    waited_s: float
    epoch: int


class Limiter:
    """Gate every provider request: at most `concurrency` in flight (or, with None, a limit
    found by AIMD from the server's 429s), at most `requests_per_minute` starts in any 60 s
    window, and nothing while a server's Retry-After cool-down runs."""

    def __init__(
        self,
        *,
        concurrency: int | None,
        requests_per_minute: float | None = None,
        max_concurrency: int = DEFAULT_CEILING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if concurrency is not None and concurrency < 1:
            raise ValueError(f"concurrency must be >= 1 or None (adaptive), got {concurrency}")
        if requests_per_minute is not None and requests_per_minute <= 0:
            raise ValueError(f"requests_per_minute must be > 0, got {requests_per_minute}")
        self._aimd: Aimd | None = None
        if concurrency is None:
            self._aimd = Aimd(limit=min(DEFAULT_START, max_concurrency), ceiling=max_concurrency)
        start = concurrency if self._aimd is None else self._aimd.tokens
        assert start is not None
        self._slots = anyio.CapacityLimiter(start)
        # A bucket of one with a drip of 60/rpm seconds: evenly spaced starts, no burst,
        # so no sliding minute ever holds more than rpm starts.
        self._rate = AsyncLimiter(1, 60.0 / requests_per_minute) if requests_per_minute else None
        self._rpm = requests_per_minute
        self._clock = clock
        self._resume_at = 0.0
        self._in_flight = self._max_in_flight = self._started = self._overloads = 0

    def __repr__(self) -> str:
        limit = "adaptive" if self.adaptive else self._slots.total_tokens
        return f"Limiter(concurrency={limit!r}, requests_per_minute={self._rpm!r})"

    @property
    def adaptive(self) -> bool:
        return self._aimd is not None

    def cool_down(self, seconds: float) -> None:
        """Hold every new start for `seconds` (a server said Retry-After)."""
        self._resume_at = max(self._resume_at, self._clock() + seconds)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Permit]:
        """Wait for a slot and the rate limit; the permit says how long that took."""
        started = self._clock()
        try:  # a free slot is taken without a loop turn (acquire() always yields one: ~10 us)
            self._slots.acquire_nowait()
        except anyio.WouldBlock:
            await self._slots.acquire()
        try:
            await self._wait_for_cool_down()
            await self._wait_for_rate()
            self._in_flight += 1
            self._started += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            epoch = self._aimd.epoch if self._aimd is not None else 0
            try:
                yield Permit(waited_s=self._clock() - started, epoch=epoch)
            finally:
                self._in_flight -= 1
        finally:
            self._slots.release()

    def feedback(self, permit: Permit, *, overloaded: bool, named: bool = False) -> None:
        """How the request went: overloads (429/503) beyond the stray share shrink an adaptive
        limit (`named`: the server said this client is over its own limit, so this one does),
        a success while every slot was busy grows it."""
        if overloaded:
            self._overloads += 1
        if self._aimd is None:
            return
        if overloaded:
            self._aimd.overloaded(started_in=permit.epoch, named=named)
        else:
            slots = self._slots.statistics()  # held back: someone waits, or every slot is busy
            saturated = slots.tasks_waiting > 0 or self._in_flight >= slots.total_tokens
            self._aimd.succeeded(saturated=saturated)
        self._slots.total_tokens = self._aimd.tokens

    async def _wait_for_rate(self) -> None:
        """A start from the rate limit (a cluster's workers take theirs from a shared one)."""
        if self._rate is not None:
            await self._rate.acquire()

    async def _wait_for_cool_down(self) -> None:
        # A loop, not an Event: another 429 may push resume_at further while we sleep.
        while (remaining := self._resume_at - self._clock()) > 0:  # noqa: ASYNC110
            await anyio.sleep(remaining)

    def statistics(self) -> LimiterStatistics:
        return LimiterStatistics(
            concurrency=int(self._slots.total_tokens),
            adaptive=self.adaptive,
            requests_per_minute=self._rpm,
            in_flight=self._in_flight,
            max_in_flight=self._max_in_flight,
            started=self._started,
            overloads=self._overloads,
        )
