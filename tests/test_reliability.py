"""Failures meet the engine: classification, retries, fallback, run stoppers, paid-work resume."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import aiohttp
import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchgen.emulator import EmulatorConfig, parse_faults, running_emulator
from batchgen.errors import (
    AuthError,
    DownloadError,
    ModelRetired,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    Rejected,
    ServerError,
)
from batchgen.expand import expand
from batchgen.models import Generation, ImageRef, ProviderConfig, Task
from batchgen.providers.aimlapi import error_for, parse_generation
from batchgen.providers.base import Download
from batchgen.run.job import RunOptions, run_job
from batchgen.store.journal import Journal
from tests.fake import FakeProvider, answer, run_engine, tasks
from tests.helpers import FAST, check_run_dir, journal_rows, load, many_prompts

pytestmark = pytest.mark.anyio
STANDARD = "google/imagen-4.0-generate-001"


@pytest.mark.parametrize(
    ("status", "body", "kind", "retryable"),
    [
        (400, b'{"message": "Body validation error! prompt too long"}', Rejected, False),
        (401, b'{"message": "This request requires a valid API key"}', AuthError, False),
        (403, b'{"message": "You\'ve run out of credits"}', AuthError, False),
        (404, b'{"message": "Model not found"}', ModelRetired, False),
        (408, b"", ServerError, True),
        (418, b"teapot", Rejected, False),
        (429, b'{"message": "Too Many Requests"}', RateLimited, True),
        (500, b'{"message": "Internal server error"}', ServerError, True),
        (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", ServerError, True),
        (503, b'{"statusCode": "503", "message": "Service unavailable"}', ServerError, True),
        (504, b'{"message": "Generation timeout"}', ServerError, True),
    ],
)
def test_errors_are_classified_by_status_and_keep_the_message(
    status: int, body: bytes, kind: type[ProviderError], retryable: bool
) -> None:
    error = error_for(status, body, None)
    assert type(error) is kind and error.retryable is retryable and error.status == status
    assert str(error).startswith(f"HTTP {status}")
    assert error.stops_run is (status in (401, 403))


def test_retry_after_is_read_as_seconds_or_a_date() -> None:
    assert error_for(429, b"", "3").retry_after == 3.0
    assert error_for(503, b"", "Wed, 21 Oct 2015 07:28:00 GMT").retry_after == 0.0
    assert error_for(429, b"", None).retry_after is None


ANSWER_KEYS = st.sampled_from(
    ["data", "images", "url", "b64_json", "meta", "usage", "credits_used", "seed", "model"]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(ANSWER_KEYS | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_any_answer_parses_or_is_a_provider_error(value: object) -> None:
    body = json.dumps(value).encode()
    try:
        generation = parse_generation(body, model=FAST)
    except ProviderError:
        return
    assert generation.images and all(ref.url or ref.b64 for ref in generation.images)


@settings(max_examples=200, deadline=None)
@given(st.integers(100, 599), st.binary(max_size=300), st.text(max_size=40) | st.none())
def test_any_error_answer_is_classified(status: int, body: bytes, retry_after: str | None) -> None:
    assert isinstance(error_for(status, body, retry_after), ProviderError)


async def test_a_model_that_keeps_failing_falls_back_and_is_then_passed_over(
    tmp_path: Path,
) -> None:
    async def handler(task: Task, model: str) -> Generation:
        if model == "model-a":
            raise ServerError("HTTP 503: Service unavailable", status=503)
        return answer(task, model)

    provider = FakeProvider(handler)
    result, journal = await run_engine(
        tmp_path, provider, tasks(20), concurrency=1, fallback={"model-a": "model-b"}
    )
    assert result.done == 20
    used = journal.query("SELECT DISTINCT model_used FROM tasks")
    assert [row[0] for row in used] == ["model-b"]  # the report says which model made each image
    assert provider.calls["model-a"] == 3  # one task's attempts; then the breaker skips it
    assert provider.calls["model-b"] == 20


async def test_a_retired_model_is_asked_once_then_its_fallback_serves(tmp_path: Path) -> None:
    async def handler(task: Task, model: str) -> Generation:
        if model == "model-a":
            raise ModelRetired("HTTP 404: Model not found", status=404)
        return answer(task, model)

    provider = FakeProvider(handler)
    result, _ = await run_engine(
        tmp_path, provider, tasks(12), concurrency=1, fallback={"model-a": "model-b"}
    )
    assert result.done == 12 and provider.calls["model-a"] == 1


async def test_rejections_are_not_retried_nor_sent_to_the_fallback(tmp_path: Path) -> None:
    async def handler(task: Task, model: str) -> Generation:
        raise Rejected("HTTP 400: The prompt was blocked by the safety filter", status=400)

    provider = FakeProvider(handler)
    result, journal = await run_engine(
        tmp_path, provider, tasks(5), fallback={"model-a": "model-b"}
    )
    assert (result.done, result.failed) == (0, 5)
    assert provider.calls == {"model-a": 5}
    messages = {row[0] for row in journal.query("SELECT error_message FROM tasks")}
    assert messages == {"HTTP 400: The prompt was blocked by the safety filter"}


async def test_a_slow_answer_times_out_and_is_retried(tmp_path: Path) -> None:
    slow_once: set[str] = set()

    async def handler(task: Task, model: str) -> Generation:
        if task.id not in slow_once:
            slow_once.add(task.id)
            await anyio.sleep(30)
        return answer(task, model)

    provider = FakeProvider(handler)
    result, journal = await run_engine(tmp_path, provider, tasks(4), request_timeout_s=0.05)
    assert result.done == 4
    kinds = journal.query("SELECT kind, COUNT(*) FROM errors GROUP BY kind")
    assert [tuple(row) for row in kinds] == [(ProviderTimeout.kind, 4)]


async def test_out_of_credits_stops_the_run_at_once(tmp_path: Path) -> None:
    async def handler(task: Task, model: str) -> Generation:
        raise AuthError("HTTP 403: You've run out of credits", status=403)

    provider = FakeProvider(handler)
    result, journal = await run_engine(tmp_path, provider, tasks(50), concurrency=2)
    assert result.status == "aborted" and "out of credits" in (result.reason or "")
    assert sum(provider.calls.values()) <= 2
    assert journal.query("SELECT COUNT(*) FROM tasks")[0][0] == 0  # nothing marked failed


async def test_a_429_holds_every_worker_for_retry_after(tmp_path: Path) -> None:
    starts: list[float] = []

    async def handler(task: Task, model: str) -> Generation:
        starts.append(anyio.current_time())
        if len(starts) == 1:
            raise RateLimited("HTTP 429", status=429, retry_after=200.0)  # x wait_scale 0.001
        return answer(task, model)

    result, _ = await run_engine(tmp_path, FakeProvider(handler), tasks(6), concurrency=1)
    assert result.done == 6
    assert starts[1] - starts[0] >= 0.2 - 0.005  # nobody started during the cool-down


async def test_a_generation_paid_before_a_crash_is_downloaded_not_bought_again(
    tmp_path: Path,
) -> None:
    manifest = load(tmp_path, f"""
        version: 1
        models: [{FAST}]
        num_images: 2
        {many_prompts(3)}
    """)  # fmt: skip
    async with running_emulator(EmulatorConfig(time_scale=0, image_bytes="small")) as emulator:
        manifest = dataclasses.replace(
            manifest, provider=ProviderConfig(kind="emulator", base_url=emulator.base_url)
        )
        run_dir = tmp_path / "run"
        journal = Journal.open(run_dir)
        task = next(expand(manifest))
        async with aiohttp.ClientSession() as session:
            body = {"model": FAST, "prompt": task.prompt, "num_images": 2}
            async with session.post(f"{emulator.base_url}/v1/images/generations", json=body) as r:
                urls = [item["url"] for item in (await r.json())["data"]]
        refs = [ImageRef(i, url=url) for i, url in enumerate(urls)]
        journal.record_generation(task.id, run_id=0, model=FAST, refs=refs, cost_usd=0.042)
        journal.close()  # ... and the process died before the downloads

        job = await run_job(manifest, RunOptions(out=run_dir))
        assert job.result.done == 3
        assert emulator.stats.generation_requests == 1 + 2  # the paid one was not sent again
    rows = journal_rows(run_dir, f"SELECT cost_usd, attempts FROM tasks WHERE id = '{task.id}'")
    assert rows == [(pytest.approx(0.042), 0)]
    assert check_run_dir(run_dir) == 6


async def test_every_emulator_fault_is_survived_or_reported(tmp_path: Path) -> None:
    spec = (
        "429=0.04,500=0.04,502=0.04,503=0.04,504=0.04,reset=0.04,badjson=0.04,html=0.04,policy=0.04"
    )
    faults = parse_faults(spec + ",truncate=0.1,slow=0.05")
    config = EmulatorConfig(time_scale=0, image_bytes="small", faults=faults, seed=3)
    async with running_emulator(config) as emulator:
        manifest = load(tmp_path, f"""
            version: 1
            models: [{FAST}]
            limits: {{concurrency: 8, max_attempts: 8}}
            {many_prompts(150)}
        """)  # fmt: skip
        manifest = dataclasses.replace(
            manifest, provider=ProviderConfig(kind="emulator", base_url=emulator.base_url)
        )
        job = await run_job(manifest, RunOptions(out=tmp_path / "run", wait_scale=0.001))
        stats = emulator.stats
    summary = job.summary
    failed = summary.errors.failed_tasks_by_kind
    assert set(failed) <= {"rejected"}  # only content-policy blocks fail; the rest recovered
    assert summary.tasks.done + failed.get("rejected", 0) == 150
    assert failed.get("rejected", 0) == stats.faults_injected["policy"]
    assert check_run_dir(job.run_dir) == summary.tasks.done
    kinds = summary.errors.attempts_by_kind
    assert {"rate_limited", "server_error", "download", "rejected"} <= set(kinds)


class _ExpiredLinks(FakeProvider):
    """Answers with URLs whose host says 404: the images were paid for but are gone."""

    def __init__(self) -> None:
        super().__init__(self._answer)
        self.fetches = 0

    async def _answer(self, task: Task, model: str) -> Generation:
        return Generation(
            images=(ImageRef(0, url="http://cdn.invalid/x.png"),),
            model=model,
            usage=answer(task, model).usage,
        )

    def fetch(self, ref: ImageRef) -> AbstractAsyncContextManager[Download]:
        self.fetches += 1
        raise DownloadError("image download answered HTTP 404", retryable=False)


async def test_an_expired_link_is_not_fetched_again_and_its_cost_is_kept(tmp_path: Path) -> None:
    provider = _ExpiredLinks()
    result, journal = await run_engine(tmp_path, provider, tasks(3), max_attempts=5)
    assert (result.done, result.failed) == (0, 3)
    assert provider.fetches == 3 and sum(provider.calls.values()) == 3
    rows = journal.query("SELECT error_kind, cost_usd FROM tasks")
    assert {tuple(row) for row in rows} == {("download", 0.02)}


async def test_tasks_may_arrive_on_their_own_schedule(tmp_path: Path) -> None:
    async def arrivals() -> AsyncIterator[Task]:
        for task in tasks(5):
            await anyio.sleep(0.01)
            yield task

    async def handler(task: Task, model: str) -> Generation:
        return answer(task, model)

    result, journal = await run_engine(tmp_path, FakeProvider(handler), arrivals())
    assert result.done == 5
    assert journal.query("SELECT COUNT(*) FROM tasks WHERE status = 'done'")[0][0] == 5
