"""How runs behave on each provider when the API pushes back: terminal quotas, filtered images,
retry hints, pacing from x-ratelimit headers, and fal requests cancelled on shutdown."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from batchgen.emulator import Emulator, EmulatorConfig, parse_faults, running_emulator
from batchgen.models import Manifest, ProviderConfig, Task
from batchgen.providers import fal
from batchgen.providers.http import new_session
from batchgen.run.job import RunOptions, run_job
from tests.helpers import FAST, check_run_dir, journal_rows, load, many_prompts

pytestmark = pytest.mark.anyio
KEY = "sk-test-runs-0123456789"
KEY_ENV = "BATCHGEN_RUNS_KEY"
PATHS = {"aimlapi": "", "gemini": "", "openai": "/openai/v1", "fal": "/fal"}
MODELS = {"aimlapi": FAST, "gemini": FAST, "openai": "gpt-image-2", "fal": FAST}


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


@asynccontextmanager
async def emulating(**options: object) -> AsyncIterator[Emulator]:
    config = EmulatorConfig(image_bytes="small", api_key=KEY, **options)  # type: ignore[arg-type]
    async with running_emulator(config) as emulator:
        yield emulator


def job_on(emulator: Emulator, kind: str, folder: Path, body: str) -> Manifest:
    manifest = load(folder, f"version: 1\nmodels: [{MODELS[kind]}]\n" + body)
    provider = ProviderConfig(
        kind=kind, base_url=emulator.base_url + PATHS[kind], api_key_env=KEY_ENV
    )
    return dataclasses.replace(manifest, provider=provider)


@pytest.mark.parametrize(("kind", "error_kind"), [
    ("gemini", "quota"), ("openai", "quota"), ("fal", "auth"), ("aimlapi", "auth"),
])  # fmt: skip
async def test_a_used_up_quota_stops_the_run(tmp_path: Path, kind: str, error_kind: str) -> None:
    """A daily quota (Google), insufficient_quota (OpenAI), no balance (fal, aimlapi): every
    other task would fail the same way, so the run stops instead of failing them all."""
    async with emulating(time_scale=0, faults=parse_faults("quota=1")) as emulator:
        manifest = job_on(emulator, kind, tmp_path, "limits: {concurrency: 2}\n" + many_prompts(40))
        job = await run_job(manifest, RunOptions(out=tmp_path / "run"))
    assert job.result.status == "aborted"
    assert emulator.stats.generation_requests <= 2
    kinds = journal_rows(job.run_dir, "SELECT DISTINCT kind FROM errors")
    assert kinds == [(error_kind,)]
    assert job.summary.tasks.pending == 40  # nothing marked failed: a rerun tomorrow resumes


async def test_retry_hints_from_google_and_openai_are_followed(tmp_path: Path) -> None:
    """RetryInfo.retryDelay and retry-after-ms (scaled to 0 here) are the waits, not backoff."""
    faults = parse_faults("429=0.3")
    body = "limits: {concurrency: 4, max_attempts: 10}\n" + many_prompts(20)
    for kind in ("gemini", "openai"):
        async with emulating(time_scale=0, faults=faults, seed=3) as emulator:
            manifest = job_on(emulator, kind, tmp_path, body)
            job = await run_job(manifest, RunOptions(out=tmp_path / kind))
        assert job.result.status == "complete" and check_run_dir(job.run_dir) == 20
        errors = job.summary.errors.attempts_by_kind
        assert errors["rate_limited"] == emulator.stats.faults_injected["429"] > 0


async def test_images_withheld_by_the_safety_filter_are_skipped_or_reported(
    tmp_path: Path,
) -> None:
    async with emulating(time_scale=0, faults=parse_faults("filter=1")) as emulator:
        body = "num_images: 3\n" + many_prompts(4)
        job = await run_job(
            job_on(emulator, "gemini", tmp_path, body), RunOptions(out=tmp_path / "some")
        )
    assert job.result.done == 4
    assert check_run_dir(job.run_dir) == 8  # one of three withheld per task; the rest saved
    assert job.summary.cost_usd.total == pytest.approx(8 * 0.02)  # only what arrived

    async with emulating(time_scale=0, faults=parse_faults("policy=1")) as emulator:
        job = await run_job(
            job_on(emulator, "gemini", tmp_path, body), RunOptions(out=tmp_path / "all")
        )
    assert job.result.status == "complete" and job.result.failed == 4
    assert emulator.stats.generation_requests == 4  # a refusal is not retried
    (message,) = {m for (m,) in journal_rows(job.run_dir, "SELECT error_message FROM tasks")}
    assert "all 3 images were withheld by the safety filter" in message


async def test_x_ratelimit_headers_pace_new_starts(tmp_path: Path) -> None:
    """The emulator allows 2 starts per 0.1 s and says so in x-ratelimit-* headers; the client,
    with no rate limit of its own, holds new starts until the reset and never sees a 429."""
    limits = {"time_scale": 0, "rpm": 1200, "burst": 2}
    body = "limits: {concurrency: 1, max_attempts: 10}\n" + many_prompts(8)
    async with emulating(**limits) as emulator:
        job = await run_job(
            job_on(emulator, "openai", tmp_path, body), RunOptions(out=tmp_path / "o")
        )
    assert job.result.done == 8
    assert emulator.stats.responses[429] == 0
    assert emulator.stats.max_starts_in_window(0.1) <= 2

    # the same job on a dialect that sends no such headers runs into the limit (one attempt
    # each, so the test does not sit through the Retry-After)
    once = body.replace("max_attempts: 10", "max_attempts: 1")
    async with emulating(**limits) as emulator:
        job = await run_job(
            job_on(emulator, "aimlapi", tmp_path, once), RunOptions(out=tmp_path / "a")
        )
    assert emulator.stats.responses[429] > 0 and job.result.failed > 0


async def _wait_for(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(10):  # a bound, not a measurement
        while not condition():  # noqa: ASYNC110 - polling another server's counters
            await anyio.sleep(0.01)


async def test_fal_requests_in_flight_are_cancelled_when_the_run_is(tmp_path: Path) -> None:
    # time_scale 1: each queued job takes seconds, so all four are in flight when we stop
    async with emulating(time_scale=1) as emulator:
        manifest = job_on(
            emulator, "fal", tmp_path, "limits: {concurrency: 4}\n" + many_prompts(20)
        )
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(run_job, manifest, RunOptions(out=tmp_path / "run"))
                await _wait_for(lambda: emulator.stats.status_polls >= 4)
                scope.cancel()
        assert emulator.stats.generation_requests == 4
        assert emulator.stats.cancelled == 4  # each PUT its cancel URL, shielded from the cancel
        assert emulator.stats.in_flight == 0


async def test_a_fal_cancel_that_hangs_is_given_up_within_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cancel PUT is best effort: a queue that never answers it cannot hold up a stop."""
    monkeypatch.setattr(fal, "CANCEL_TIMEOUT_S", 0.05)
    polled, cancel_headers = anyio.Event(), []

    async def submit(request: web.Request) -> web.Response:
        base = f"{request.url.origin()}/fal-ai/x/requests/1"
        urls = {
            "status_url": base + "/status",
            "response_url": base,
            "cancel_url": base + "/cancel",
        }
        return web.json_response({"request_id": "1", **urls})

    async def status(request: web.Request) -> web.Response:
        polled.set()
        return web.json_response({"status": "IN_QUEUE"})

    async def cancel(request: web.Request) -> web.Response:
        cancel_headers.append(request.headers.get("Authorization"))
        await asyncio.Event().wait()  # never answers
        raise AssertionError("unreachable")

    app = web.Application()
    app.router.add_post("/fal-ai/x", submit)
    app.router.add_get("/fal-ai/x/requests/1/status", status)
    app.router.add_put("/fal-ai/x/requests/1/cancel", cancel)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    provider = fal.FalProvider(new_session(request_timeout_s=30), base_url=url, api_key="k",
                               poll_first_s=0.01, poll_max_s=0.01)  # fmt: skip
    task = Task("t", 0, "p", "fal-ai/x", "1:1", 1)
    try:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(partial(provider.generate, task, model="fal-ai/x"))
                await polled.wait()
                scope.cancel()
        assert cancel_headers == ["Key k"]  # the queue host is the API's origin: it gets the key
    finally:
        await provider.aclose()
        await runner.cleanup()
