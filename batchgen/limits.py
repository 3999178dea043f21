"""When a request may start: concurrency limit, rate limit and a shared cool-down, as one object."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from aiolimiter import AsyncLimiter


@dataclass(frozen=True, slots=True)
class LimiterStatistics:
    concurrency: int
    requests_per_minute: float | None
    in_flight: int
    max_in_flight: int
    started: int


class Limiter:
    """Gate every provider request: at most `concurrency` in flight, at most
    `requests_per_minute` starts in any 60 s window, and nothing while a server's
    Retry-After cool-down is running (so one 429 does not become a storm of them)."""

    def __init__(
        self,
        *,
        concurrency: int,
        requests_per_minute: float | None = None,
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if requests_per_minute is not None and requests_per_minute <= 0:
            raise ValueError(f"requests_per_minute must be > 0, got {requests_per_minute}")
        self._slots = anyio.CapacityLimiter(concurrency)
        # A bucket of one with a drip of 60/rpm seconds: evenly spaced starts, no burst,
        # so no sliding minute ever holds more than rpm starts.
        self._rate = AsyncLimiter(1, 60.0 / requests_per_minute) if requests_per_minute else None
        self._rpm = requests_per_minute
        self._clock = clock
        self._resume_at = 0.0
        self._in_flight = 0
        self._max_in_flight = 0
        self._started = 0

    def __repr__(self) -> str:
        return (
            f"Limiter(concurrency={self._slots.total_tokens!r}, requests_per_minute={self._rpm!r})"
        )

    def cool_down(self, seconds: float) -> None:
        """Hold every new start for `seconds` (a server said Retry-After)."""
        self._resume_at = max(self._resume_at, self._clock() + seconds)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Wait for a slot and the rate limit; yield the seconds spent waiting."""
        started = self._clock()
        async with self._slots:
            await self._wait_for_cool_down()
            if self._rate is not None:
                await self._rate.acquire()
            waited = self._clock() - started
            self._in_flight += 1
            self._started += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            try:
                yield waited
            finally:
                self._in_flight -= 1

    async def _wait_for_cool_down(self) -> None:
        # A loop, not an Event: another 429 may push resume_at further while we sleep.
        while (remaining := self._resume_at - self._clock()) > 0:  # noqa: ASYNC110
            await anyio.sleep(remaining)

    def statistics(self) -> LimiterStatistics:
        return LimiterStatistics(
            concurrency=int(self._slots.total_tokens),
            requests_per_minute=self._rpm,
            in_flight=self._in_flight,
            max_in_flight=self._max_in_flight,
            started=self._started,
        )
