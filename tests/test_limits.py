"""The limiter holds its limits, measured by a spy; timing checks are lower bounds only."""

from __future__ import annotations

import anyio
import pytest

from batchgen.run.adaptive import DECREASE, Aimd
from batchgen.run.limits import Limiter

pytestmark = pytest.mark.anyio


def test_bad_arguments_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        Limiter(concurrency=0)
    with pytest.raises(ValueError, match="ceiling"):
        Aimd(limit=8, ceiling=4)
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
    async with limiter.slot() as permit:
        assert anyio.current_time() - before >= 0.2 - 0.002
        assert permit.waited_s >= 0.19


def test_aimd_slow_starts_then_backs_off_once_per_generation() -> None:
    aimd = Aimd(limit=4, ceiling=64)
    for _ in range(6):
        aimd.succeeded(saturated=True)
    assert aimd.tokens == 10  # slow start: +1 per success
    aimd.succeeded(saturated=False)
    assert aimd.tokens == 10  # not the limit holding us back: no growth
    epoch = aimd.epoch
    aimd.overloaded(started_in=epoch, named=True)
    aimd.overloaded(started_in=epoch, named=True)  # same overshoot, answered already
    assert aimd.limit == pytest.approx(10 * DECREASE) and aimd.epoch == epoch + 1
    assert aimd.overload_at == 10
    for _ in range(200):
        aimd.overloaded(started_in=aimd.epoch, named=True)
    assert aimd.tokens == 1


def grow_windows(aimd: Aimd, windows: int) -> None:
    for _ in range(windows):
        for _ in range(aimd.tokens):  # a window: one success per slot
            aimd.succeeded(saturated=True)


def test_aimd_climbs_back_lingers_below_the_mark_then_accelerates() -> None:
    aimd = Aimd(limit=40, ceiling=256)
    aimd.overloaded(started_in=0, named=True)  # refused at 40: back to 36
    grow_windows(aimd, 3)
    assert 38.9 < aimd.limit < 39.2  # +1 per window up to just below the mark
    grow_windows(aimd, 4)
    assert aimd.limit < 39.6  # lingers: +1 per 8 windows near where it was refused
    grow_windows(aimd, 12)  # no refusal: the capacity must have grown
    assert aimd.limit > 55  # past the mark growth speeds up: +1, +2, +3 ... per window


async def test_an_adaptive_limiter_settles_under_a_servers_hidden_limit() -> None:
    hidden = 12
    limiter = Limiter(concurrency=None, max_concurrency=64)
    assert limiter.adaptive
    in_flight = refused = served = 0

    async def request() -> None:
        nonlocal in_flight, refused, served
        async with limiter.slot() as permit:
            in_flight += 1
            overloaded = in_flight > hidden  # the server refuses past its limit
            await anyio.sleep(0.002)
            in_flight -= 1
            # named: the server says the refusal is for our load (refusals as slow as
            # successes, and unnamed, are tests/test_adaptive.py's stray-share case)
            limiter.feedback(permit, overloaded=overloaded, named=overloaded)
            refused += overloaded
            served += not overloaded

    async with anyio.create_task_group() as tg:
        for _ in range(1500):
            tg.start_soon(request)
    stats = limiter.statistics()
    assert stats.overloads == refused
    assert hidden * DECREASE**2 <= stats.concurrency <= hidden + 1
    assert refused < 0.1 * served
