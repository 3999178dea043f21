"""The breaker for systematic rejection: a misspelled model costs PROBE_REQUESTS requests, not
one per task; content-policy refusals of single prompts never trip it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from rich.console import Console

from batchgen.emulator import EmulatorConfig, parse_faults, running_emulator
from batchgen.errors import Rejected
from batchgen.models import Manifest, ProviderConfig
from batchgen.progress import ProgressView
from batchgen.run.breaker import PROBE_REQUESTS, Breaker
from batchgen.run.job import RunOptions, run_job
from tests.helpers import FAST, load, many_prompts

pytestmark = pytest.mark.anyio
MISSPELLED = "google/imagen-4-fast"


class Recorder(ProgressView):
    def __init__(self, console: Console) -> None:
        super().__init__(total=50, console=console)
        self.stops: list[tuple[str, str]] = []

    def model_stopped(self, model: str, reason: str) -> None:
        self.stops.append((model, reason))
        super().model_stopped(model, reason)


def manifest_for(tmp_path: Path, base_url: str, models: str, extra: str = "") -> Manifest:
    manifest = load(tmp_path, f"""
        version: 1
        models: [{models}]
        limits: {{concurrency: 8}}
        {extra}
        {many_prompts(50)}
    """)  # fmt: skip
    provider = ProviderConfig(kind="emulator", base_url=base_url)
    return dataclasses.replace(manifest, provider=provider)


async def test_a_misspelled_model_stops_after_the_probe_requests(tmp_path: Path) -> None:
    config = EmulatorConfig(time_scale=0.002, image_bytes="small")
    console = Console(record=True, width=200, force_terminal=False)
    view = Recorder(console)
    async with running_emulator(config) as emulator:
        manifest = manifest_for(tmp_path, emulator.base_url, MISSPELLED)
        job = await run_job(manifest, RunOptions(out=tmp_path / "run", html=False), view)
        sent = emulator.stats.generation_requests
    assert sent == PROBE_REQUESTS
    assert job.result.failed == 50 and job.summary.tasks.failed == 50
    assert len(view.stops) == 1 and view.stops[0][0] == MISSPELLED
    assert "Invalid enum value" in view.stops[0][1]
    printed = console.export_text()
    assert printed.count("stopped: stopped sending to google/imagen-4-fast") == 1
    assert job.summary.errors.failed_tasks_by_kind == {"rejected": 50}
    errors = job.summary.errors
    assert errors.attempts_by_kind == {"rejected": PROBE_REQUESTS, "model_stopped": 1}
    assert errors.examples["model_stopped"].startswith(f"stopped sending to {MISSPELLED}")


async def test_a_stopped_model_hands_its_tasks_to_its_fallback(tmp_path: Path) -> None:
    config = EmulatorConfig(time_scale=0.002, image_bytes="small")
    async with running_emulator(config) as emulator:
        manifest = manifest_for(
            tmp_path, emulator.base_url, MISSPELLED, f"fallback: {{{MISSPELLED}: {FAST}}}"
        )
        job = await run_job(manifest, RunOptions(out=tmp_path / "run", html=False))
        sent = emulator.stats.generation_requests
    # the probes fail for good (a 400 is the task's answer); every later task goes to FAST
    assert job.result.done == 50 - PROBE_REQUESTS and job.result.failed == PROBE_REQUESTS
    assert sent == 50


async def test_policy_refusals_never_trip_it(tmp_path: Path) -> None:
    faults = parse_faults("policy=1")
    config = EmulatorConfig(time_scale=0.002, image_bytes="small", faults=faults)
    console = Console(record=True, width=200, force_terminal=False)
    view = Recorder(console)
    async with running_emulator(config) as emulator:
        manifest = manifest_for(tmp_path, emulator.base_url, FAST)
        job = await run_job(manifest, RunOptions(out=tmp_path / "run", html=False), view)
        sent = emulator.stats.generation_requests
    assert sent == 50 and job.result.failed == 50
    assert view.stops == []


async def test_different_answers_or_a_success_prove_the_model() -> None:
    breaker = Breaker(probes=2)
    assert await breaker.admit("m") and await breaker.admit("m")
    invalid = Rejected("HTTP 400: Body validation error! a", status=400, about_request=True)
    other = Rejected("HTTP 400: Body validation error! b", status=400, about_request=True)
    assert breaker.answered("m", invalid) is None
    assert breaker.answered("m", other) is None  # two different answers: about the tasks
    assert breaker.stopped("m") is None and await breaker.admit("m")
    assert await breaker.admit("n")
    assert breaker.answered("n", None) is None  # a success proves it for good
    for _ in range(5):
        assert breaker.answered("n", invalid) is None
    assert breaker.stopped("n") is None


async def test_the_same_refusal_on_every_probe_stops_the_model() -> None:
    breaker = Breaker(probes=2)
    invalid = Rejected("HTTP 400: Body validation error! a", status=400, about_request=True)
    assert await breaker.admit("m") and await breaker.admit("m")
    assert breaker.answered("m", invalid) is None
    stopped = breaker.answered("m", invalid)
    assert stopped is not None and "Body validation error! a" in str(stopped)
    assert not await breaker.admit("m")
