"""The emulator's own limits and counters: rpm window, concurrency, stats, capacity, serve."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import aiohttp
import anyio
import pytest

from batchgen.emulator import (
    EmulatorConfig,
    create_app,
    running_emulator,
    stats_of,
)
from batchgen.emulator.faults import StartWindow
from batchgen.emulator.state import STATE
from tests.emulator_kit import (
    FAST,
    GENERATIONS,
    STANDARD,
    ULTRA,
    FakeClock,
    assert_error_body,
    download,
    emulator,
    generate,
)

pytestmark = pytest.mark.anyio


# --- the server's own limits -------------------------------------------------------------------


async def test_rpm_window_answers_429_with_retry_after() -> None:
    clock = FakeClock()
    async with emulator(clock=clock, rpm=3) as (running, session):
        for _ in range(3):
            assert (await generate(session))[0] == 200
            clock.now += 1.0
        async with session.post(GENERATIONS, json={"model": FAST, "prompt": "p"}) as response:
            assert response.status == 429
            assert response.headers["Retry-After"] == "57"
            body = await response.json()
        assert_error_body(body, 429)
        assert body["message"] == "Too Many Requests"
        clock.now += 56.5  # 0.5 s before the first start leaves the window
        assert (await generate(session))[0] == 429
        clock.now += 0.5
        assert (await generate(session))[0] == 200
        assert len(running.stats.start_times) == 4  # rejected requests are not starts
        assert running.stats.max_starts_in_window(60.0) == 3


def test_fractional_rpm_widens_the_window() -> None:
    window = StartWindow(0.5)  # one start every 120 s
    window.record(0.0)
    assert window.retry_after(100.0) == 20
    assert window.retry_after(120.0) is None


async def test_max_concurrency_answers_429() -> None:
    async with emulator(max_concurrency=1, time_scale=0.1) as (running, session):
        async with anyio.create_task_group() as group:
            first: list[int] = []

            async def slow_request() -> None:
                first.append((await generate(session))[0])

            group.start_soon(slow_request)
            with anyio.fail_after(10):
                while running.stats.in_flight == 0:  # noqa: ASYNC110  # a counter, no event to await
                    await anyio.sleep(0.005)
            async with session.post(GENERATIONS, json={"model": FAST, "prompt": "p"}) as response:
                assert response.status == 429
                assert response.headers["Retry-After"] == "1"
        assert first == [200]
        assert running.stats.max_in_flight == 1
        assert running.stats.in_flight == 0


async def test_stats_count_requests_images_and_bytes() -> None:
    clock = FakeClock()
    async with emulator(clock=clock) as (running, session):
        for step in (0.0, 0.2, 0.3, 5.0):
            clock.now += step
            _, body = await generate(session, model=STANDARD, num_images=2)
        await generate(session, prompt="")
        _, data = await download(session, body["data"][0]["url"])
        async with session.get("/_emulator/stats") as response:
            served = await response.json()
    stats = running.stats
    assert stats.requests_total == 6
    assert stats.generation_requests == 5
    assert dict(stats.responses) == {200: 5, 400: 1}
    assert stats.images_generated == 8
    assert stats.credits_billed == 8 * 84000
    assert (stats.downloads, stats.bytes_served) == (1, len(data))
    assert stats.max_starts_in_window(1.0) == 3
    assert stats.max_starts_in_window(0.25) == 2
    assert stats.max_in_flight == 1
    assert served == stats.snapshot()
    assert served["responses"] == {"200": 5, "400": 1}
    assert served["usd_billed"] == 8 * 0.042


async def test_create_app_exposes_the_same_counters() -> None:
    app = create_app(EmulatorConfig(time_scale=0))
    assert stats_of(app).requests_total == 0


async def test_abandoned_generations_end_with_the_emulator() -> None:
    async with emulator(time_scale=1.0) as (running, session):
        body = {"model": ULTRA, "prompt": "p"}
        with pytest.raises(TimeoutError):
            await session.post(GENERATIONS, json=body, timeout=aiohttp.ClientTimeout(total=0.05))
        assert running.stats.in_flight == 1  # the server keeps generating, as a real one would
    assert running.stats.in_flight == 0


def test_serve_prints_its_url_and_stops_on_ctrl_c() -> None:
    code = "from batchgen.emulator import *; serve(EmulatorConfig(time_scale=0), port=0)"
    repo = Path(__file__).resolve().parent.parent
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=repo
    ) as process:
        assert process.stdout is not None
        found = re.search(r"http://\S+", process.stdout.readline())
        assert found is not None
        base_url = found[0]
        payload = json.dumps({"model": FAST, "prompt": "p"}).encode()
        request = urllib.request.Request(f"{base_url}{GENERATIONS}", data=payload)
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.load(response)["meta"]["usage"]["credits_used"] == 42000
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0


async def test_capacity_can_change_while_running() -> None:
    config = EmulatorConfig(time_scale=0, max_concurrency=8)
    async with running_emulator(config) as emulator, aiohttp.ClientSession() as session:
        url = f"{emulator.base_url}/_emulator/limits"
        async with session.put(url, json={"max_concurrency": 2}) as response:
            assert response.status == 200
        assert emulator.app[STATE].max_concurrency == 2
        async with session.put(url, json={"max_concurrency": 0}) as response:
            assert response.status == 400
        async with session.put(url, json={"max_concurrency": None}) as response:
            assert (await response.json()) == {"max_concurrency": None}
