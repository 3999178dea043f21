"""mode: batch end to end on the emulator (issue 15): each batch API renders a job, expired
batches' leftovers are sent again, per-line errors become task failures with the provider's
message, and a batch created just before a kill is found again, never submitted twice."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from batchgen import pricing
from batchgen.emulator import EmulatorConfig, running_emulator
from batchgen.manifest.load import parse_manifest
from batchgen.models import Manifest
from batchgen.run.job import RunOptions, run_job
from batchgen.store.journal import BatchRecord, Journal

pytestmark = pytest.mark.anyio
MODELS = {"openai": "gpt-image-2", "gemini": "gemini-2.5-flash-image"}


def manifest_for(base_url: str, api: str, count: int, tmp: Path, extra: str = "") -> Manifest:
    text = (
        "version: 1\nname: nightly\n"
        f"provider: {{kind: emulator, dialect: {api}, base_url: '{base_url}'}}\n"
        f"models: [{MODELS[api]}]\nmode: batch\n"
        "prompts:\n  - template: 'poster {n}'\n"
        f"    vars: {{n: [{', '.join(str(i) for i in range(count))}]}}\n"
        f"output: {{dir: '{tmp / 'out'}'}}\n" + extra
    )
    return parse_manifest(text, source=tmp / "job.yaml")


def config(**extra: Any) -> EmulatorConfig:
    return EmulatorConfig(time_scale=0, image_bytes="small", **extra)


def rows(run_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(run_dir / "journal.sqlite") as conn:
        return conn.execute(sql).fetchall()


def whole_images(run_dir: Path) -> int:
    files = list((run_dir / "images").rglob("*.png"))
    for path in files:
        with Image.open(path) as image:
            image.load()  # a cut file fails here
    return len(files)


@pytest.mark.parametrize("api", ["openai", "gemini"])
async def test_a_batch_job_renders_every_task_once(api: str, tmp_path: Path) -> None:
    async with running_emulator(config()) as emulator:
        manifest = manifest_for(emulator.base_url, api, 60, tmp_path)
        job = await run_job(manifest, RunOptions(html=False, batch_poll_s=0))
    assert (job.result.done, job.result.failed) == (60, 0)
    assert whole_images(job.run_dir) == 60
    assert max(emulator.stats.batch_submitted.values()) == 1
    assert len(emulator.stats.batch_submitted) == 60
    batches = rows(job.run_dir, "SELECT state, collected, remote_id FROM batches")
    assert len(batches) == 2 and all(collected == 1 and remote for _, collected, remote in batches)
    report = json.loads((job.run_dir / "report.json").read_text())
    assert report["batch_turnaround_s"]["max"] >= 0  # submit -> results, apart from latency_s
    live = pricing.price_per_image(MODELS[api], kind=api, resolution=manifest.resolution)
    assert live is not None  # the batch price is half of it, per image
    assert job.summary.cost_usd.total == pytest.approx(live * 60 / 2)
    billed = emulator.stats.snapshot()["usd_billed"]  # the emulator bills half price too
    assert billed == pytest.approx(job.summary.cost_usd.total, rel=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("api", ["openai", "gemini"])
async def test_a_500_task_batch_job_end_to_end(api: str, tmp_path: Path) -> None:
    async with running_emulator(config()) as emulator:
        manifest = manifest_for(emulator.base_url, api, 500, tmp_path)
        job = await run_job(manifest, RunOptions(html=False, batch_poll_s=0))
        again = await run_job(manifest, RunOptions(html=False, batch_poll_s=0))
    assert (job.result.done, job.result.failed) == (500, 0)
    assert again.result.skipped == 500 and again.result.done == 0
    assert whole_images(job.run_dir) == 500
    assert max(emulator.stats.batch_submitted.values()) == 1
    assert len(emulator.stats.batch_submitted) == 500


@pytest.mark.parametrize("api", ["openai", "gemini"])
async def test_an_expired_batch_leaves_its_unfinished_tasks_to_a_new_batch(
    api: str, tmp_path: Path
) -> None:
    async with running_emulator(config(batch_expiries=1)) as emulator:
        manifest = manifest_for(emulator.base_url, api, 20, tmp_path)
        job = await run_job(manifest, RunOptions(html=False, batch_poll_s=0))
    assert (job.result.done, job.result.failed) == (20, 0)
    assert whole_images(job.run_dir) == 20
    sent = sorted(emulator.stats.batch_submitted.values())
    # OpenAI returns an expired batch's finished half; Gemini's expired job returns nothing
    assert sent == ([1] * 10 + [2] * 10 if api == "openai" else [2] * 20)
    states = [state for (state,) in rows(job.run_dir, "SELECT state FROM batches")]
    assert states[0] in ("expired", "EXPIRED") and states[1] in ("completed", "SUCCEEDED")


@pytest.mark.parametrize("api", ["openai", "gemini"])
async def test_per_line_errors_fail_their_tasks_with_the_providers_message(
    api: str, tmp_path: Path
) -> None:
    async with running_emulator(config(batch_line_error_rate=0.3)) as emulator:
        manifest = manifest_for(emulator.base_url, api, 30, tmp_path)
        job = await run_job(manifest, RunOptions(html=False, batch_poll_s=0))
    assert job.result.failed > 0 and job.result.done + job.result.failed == 30
    messages = rows(job.run_dir, "SELECT error_message FROM tasks WHERE status = 'failed'")
    said = "our safety system" if api == "openai" else "violates the usage policy"
    assert messages and all(said in message for (message,) in messages)
    assert max(emulator.stats.batch_submitted.values()) == 1  # failed lines are not resent


@pytest.mark.parametrize("api", ["openai", "gemini"])
async def test_a_batch_created_just_before_a_kill_is_found_not_sent_again(
    api: str, tmp_path: Path
) -> None:
    """The journal says "submitting" (the kill came before the provider's id was kept): the
    rerun lists the provider's batches, finds its marker and attaches."""
    from batchgen.expand import expand
    from batchgen.providers import open_provider
    from batchgen.providers.batching import batch_client_for

    async with running_emulator(config()) as emulator:
        manifest = manifest_for(emulator.base_url, api, 8, tmp_path)
        tasks = list(expand(manifest))
        run_dir = tmp_path / "out"
        journal = Journal.open(run_dir)
        marker = "batchgen-killed-1"
        journal.add_batch(
            BatchRecord(marker, api, MODELS[api], tuple(t.id for t in tasks[:5]), None,
                        "submitting", 0.0)
        )  # fmt: skip
        journal.add_batch(
            BatchRecord("batchgen-killed-2", api, MODELS[api], tuple(t.id for t in tasks[5:]),
                        None, "submitting", 1.0)
        )  # fmt: skip
        journal.close()
        async with open_provider(manifest) as provider:  # the dead run's create call landed
            await batch_client_for(provider).submit(marker, MODELS[api], tasks[:5])
        job = await run_job(manifest, RunOptions(html=False, batch_poll_s=0))
    assert (job.result.done, job.result.failed) == (8, 0)
    assert sorted(emulator.stats.batch_submitted.values()) == [1] * 8
    states = dict(rows(job.run_dir, "SELECT marker, state FROM batches"))
    assert states["batchgen-killed-2"] == "abandoned"  # never created: its tasks went anew


async def test_the_run_refuses_batch_mode_where_there_is_no_batch_api(tmp_path: Path) -> None:
    from batchgen.errors import ManifestError

    text = (
        "version: 1\nmodels: [imagen-4.0-generate-001]\nprompts: [a]\nprovider: {kind: emulator}\n"
    )
    manifest = parse_manifest(text, source=tmp_path / "job.yaml")
    with pytest.raises(ManifestError, match="AI/ML API has no batch API"):
        await run_job(manifest, RunOptions(html=False, mode="batch", out=tmp_path / "o"))


async def test_a_batch_run_never_commits_more_than_its_budget(tmp_path: Path) -> None:
    per_task = pricing.price_per_image(MODELS["openai"], kind="openai", resolution="1K")
    assert per_task is not None
    cap = per_task / 2 * 25.5  # room for 25 tasks at the batch price
    async with running_emulator(config()) as emulator:
        manifest = manifest_for(emulator.base_url, "openai", 60, tmp_path)
        job = await run_job(manifest, RunOptions(html=False, batch_poll_s=0, max_usd=cap))
    assert job.result.status == "budget" and job.result.done == 25
    assert len(emulator.stats.batch_submitted) == 25
    assert job.summary.cost_usd.total <= cap
