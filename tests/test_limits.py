"""The limiter holds its limits, measured by a spy; timing checks are lower bounds only."""

from __future__ import annotations

import anyio
import pytest

from batchgen.limits import Limiter

pytestmark = pytest.mark.anyio


def test_bad_arguments_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        Limiter(concurrency=0)
    with pytest.raises(ValueError, match="requests_per_minute"):
        Limiter(concurrency=1, requests_per_minute=0)
    assert "concurrency=3" in repr(Limiter(concurrency=3))


async def test_never_more_than_concurrency_in_flight() -> None:
    limiter = Limiter(concurrency=4)
    in_flight = peak = 0

    async def request() -> None:
        nonlocal in_flight, peak
        async with limiter.slot():
            in_flight += 1
            peak = max(peak, in_flight)
            await anyio.sleep(0.005)
            in_flight -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(40):
            tg.start_soon(request)
    assert peak == 4
    stats = limiter.statistics()
    assert stats.max_in_flight == 4 and stats.started == 40 and stats.in_flight == 0


async def test_starts_are_spaced_so_no_minute_holds_more_than_rpm() -> None:
    rpm = 1500.0  # one start every 40 ms
    limiter = Limiter(concurrency=50, requests_per_minute=rpm)
    starts: list[float] = []

    async def request() -> None:
        async with limiter.slot():
            starts.append(anyio.current_time())

    async with anyio.create_task_group() as tg:
        for _ in range(25):
            tg.start_soon(request)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 60.0 / rpm - 0.002  # 2 ms slack for timer resolution


async def test_cool_down_holds_every_new_start() -> None:
    limiter = Limiter(concurrency=2)
    limiter.cool_down(0.2)
    before = anyio.current_time()
    async with limiter.slot() as waited:
        assert anyio.current_time() - before >= 0.2 - 0.002
        assert waited >= 0.19
