"""Every provider kind end to end through run_job against the emulator on loopback: real files of
the right pixel size, costs from the catalog, the same manifest on every provider."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from batchgen.catalog import GEMINI3_2K, IMAGEN_1K, IMAGEN_2K
from batchgen.emulator import Emulator, EmulatorConfig, running_emulator
from batchgen.models import Manifest, ProviderConfig
from batchgen.run.job import RunOptions, run_job
from tests.helpers import FAST, check_run_dir, journal_rows, load, many_prompts

pytestmark = pytest.mark.anyio
KEY = "sk-test-providers-0123456789"
KEY_ENV = "BATCHGEN_PROVIDER_KEY"
# where each kind's API lives on the emulator (it routes by path)
PATHS = {"aimlapi": "", "gemini": "", "openai": "/openai/v1", "fal": "/fal"}


@pytest.fixture
async def emulator(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    monkeypatch.setenv(KEY_ENV, KEY)
    config = EmulatorConfig(time_scale=0.002, image_bytes="small", api_key=KEY)
    async with running_emulator(config) as emu:
        yield emu


def on(emulator: Emulator, manifest: Manifest, kind: str) -> Manifest:
    """Point a manifest at the emulator as provider `kind` (the real client of that kind)."""
    url = emulator.base_url + PATHS[kind]
    provider = ProviderConfig(kind=kind, base_url=url, api_key_env=KEY_ENV)
    return dataclasses.replace(manifest, provider=provider)


async def test_gemini_imagen_predict_end_to_end(tmp_path: Path, emulator: Emulator) -> None:
    manifest = on(emulator, load(tmp_path, f"""
        version: 1
        provider: {{kind: gemini}}
        models: [{FAST}]
        aspect_ratios: ["1:1", "9:16", "16:9"]
        num_images: 2
        {many_prompts(4)}
    """), "gemini")  # fmt: skip
    job = await run_job(manifest, RunOptions(out=tmp_path / "run"))
    assert job.result.status == "complete" and job.result.done == 12
    assert check_run_dir(job.run_dir) == 24
    # Google's own price for Fast (the catalog), not the AI/ML API's
    assert job.summary.cost_usd.by_model == {FAST: pytest.approx(24 * 0.02)}
    assert emulator.stats.downloads == 0  # inline base64, nothing fetched


async def test_gemini_image_model_generate_content_at_2k(
    tmp_path: Path, emulator: Emulator
) -> None:
    manifest = on(emulator, load(tmp_path, f"""
        version: 1
        provider: {{kind: gemini}}
        models: [gemini-3.1-flash-image]
        aspect_ratios: ["16:9", "3:4"]
        resolution: 2K
        seeds: [7]
        output: {{filename: "{{resolution}}/{{aspect}}/{{task_id}}-{{index}}.{{ext}}"}}
        {many_prompts(3)}
    """), "gemini")  # fmt: skip
    job = await run_job(manifest, RunOptions(out=tmp_path / "run"))
    assert job.result.done == 6
    assert check_run_dir(job.run_dir, GEMINI3_2K) == 6
    paths = [path for (path,) in journal_rows(job.run_dir, "SELECT path FROM images")]
    assert all(path.startswith("images/2K/") for path in paths)
    assert job.summary.cost_usd.total == pytest.approx(6 * 0.101)  # the 2K price


async def test_openai_compatible_end_to_end_base64_and_urls(
    tmp_path: Path, emulator: Emulator
) -> None:
    body = """
        version: 1
        provider: {{kind: openai}}
        models: [{model}]
        aspect_ratios: {aspects}
        num_images: {n}
        params: {params}
        {prompts}
    """
    gpt = on(emulator, load(tmp_path, body.format(
        model="gpt-image-2", aspects='["4:3", "9:16"]', n=2, params="{}", prompts=many_prompts(3),
    )), "openai")  # fmt: skip
    job = await run_job(gpt, RunOptions(out=tmp_path / "gpt"))
    assert job.result.done == 6 and check_run_dir(job.run_dir) == 12
    assert emulator.stats.downloads == 0  # GPT image models answer base64

    # URL answers: no model OpenAI still serves gives them (the DALL-E models that did were
    # retired 2026-05-12), but OpenAI-compatible gateways do: the AI/ML API's route here.
    gateway = dataclasses.replace(
        load(tmp_path, body.format(
            model=FAST, aspects='["1:1"]', n=1, params="{}", prompts=many_prompts(3),
        )),
        provider=ProviderConfig(
            kind="openai", base_url=emulator.base_url + "/v1", api_key_env=KEY_ENV
        ),
    )  # fmt: skip
    job = await run_job(gateway, RunOptions(out=tmp_path / "gateway"))
    assert job.result.done == 3
    assert check_run_dir(job.run_dir, {"1:1": (1024, 1024)}) == 3
    assert emulator.stats.downloads == 3  # URLs, fetched without the key


async def test_fal_queue_end_to_end(tmp_path: Path, emulator: Emulator) -> None:
    manifest = on(emulator, load(tmp_path, """
        version: 1
        provider: {kind: fal}
        models: [google/imagen-4.0-generate-001, google/imagen-4.0-ultra-generate-001]
        aspect_ratios: ["1:1", "16:9"]
        resolution: 2K
        limits: {concurrency: 8}
        prompts: [a lighthouse at dusk, a fox in snow]
    """), "fal")  # fmt: skip
    job = await run_job(manifest, RunOptions(out=tmp_path / "run"))
    assert job.result.status == "complete" and job.result.done == 8
    assert check_run_dir(job.run_dir, IMAGEN_2K) == 8
    assert emulator.stats.generation_requests == 8  # one submission per task
    assert emulator.stats.images_generated == 8  # each billed once (tests/test_fal_pay_once.py)
    assert emulator.stats.status_polls >= 8  # each polled until COMPLETED
    assert emulator.stats.downloads == 8
    cost = job.summary.cost_usd.by_model
    assert cost == {
        "google/imagen-4.0-generate-001": pytest.approx(4 * 0.04),
        "google/imagen-4.0-ultra-generate-001": pytest.approx(4 * 0.06),
    }


@pytest.mark.parametrize("kind", ["aimlapi", "gemini", "fal"])
async def test_the_same_manifest_runs_on_each_provider_by_changing_kind(
    tmp_path: Path, emulator: Emulator, kind: str
) -> None:
    text = f"""
        version: 1
        provider: {{kind: {kind}, api_key_env: {KEY_ENV}}}
        models: [{FAST}]
        aspect_ratios: ["3:4", "16:9"]
        num_images: 2
        {many_prompts(3)}
    """
    manifest = load(tmp_path, text)
    url = emulator.base_url + PATHS[kind]
    manifest = dataclasses.replace(
        manifest, provider=dataclasses.replace(manifest.provider, base_url=url)
    )
    job = await run_job(manifest, RunOptions(out=tmp_path / kind))
    assert job.result.done == 6
    assert check_run_dir(job.run_dir, IMAGEN_1K) == 12


@pytest.mark.parametrize("dialect", ["aimlapi", "gemini", "openai", "fal"])
async def test_the_built_in_emulator_speaks_every_dialect(tmp_path: Path, dialect: str) -> None:
    """No key, no network: `kind: emulator, dialect: X` tries provider X's client locally."""
    model = "gpt-image-2" if dialect == "openai" else FAST
    manifest = load(tmp_path, f"""
        version: 1
        provider: {{kind: emulator, dialect: {dialect}, time_scale: 0, image_bytes: small}}
        models: [{model}]
        aspect_ratios: ["4:3"]
        {many_prompts(2)}
    """)  # fmt: skip
    job = await run_job(manifest, RunOptions(out=tmp_path / "run"))
    assert job.result.done == 2 and check_run_dir(job.run_dir) == 2
    report = json.loads((job.run_dir / "report.json").read_text())
    assert report["tasks"]["failed"] == 0
