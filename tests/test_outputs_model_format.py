"""output.format jpeg/webp on a GPT image model: the model is asked for that format
(`output_format`, `output.quality` as `output_compression`) and its bytes are written as they
came; only the resized variants are encoded here. The official SDK sends the same fields, and
the emulator answers them with real JPEG/WebP files."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from batchgen.emulator import Emulator, EmulatorConfig, running_emulator
from batchgen.manifest.load import parse_manifest
from batchgen.models import OutputConfig, ProviderConfig, Task
from batchgen.providers.openai import FileFormat, request_body
from batchgen.run.job import RunOptions, run_job
from batchgen.store import derive
from tests.helpers import load

pytestmark = pytest.mark.anyio
KEY = "sk-test-formats-0123456789"
KEY_ENV = "BATCHGEN_FORMATS_KEY"
MAGIC = {"jpeg": (b"\xff\xd8\xff",), "webp": (b"RIFF",)}


def task(**params: Any) -> Task:
    return Task(
        id="t", ordinal=0, prompt="a mug", model="gpt-image-2", aspect_ratio="1:1",
        num_images=1, params=params,
    )  # fmt: skip


def test_jpeg_and_webp_are_asked_of_gpt_image_models_with_the_quality() -> None:
    wanted = FileFormat.wanted(OutputConfig(format="webp", quality=60))
    assert wanted == FileFormat("webp", 60)
    body = request_body(task(), "gpt-image-2", wanted)
    assert (body["output_format"], body["output_compression"]) == ("webp", 60)


def test_nothing_is_asked_where_it_does_not_apply() -> None:
    assert FileFormat.wanted(OutputConfig(format="png")) is None  # what the models send anyway
    assert FileFormat.wanted(OutputConfig()) is None  # as the provider sent it
    wanted = FileFormat("jpeg", 85)
    # a model batchgen does not know as a GPT image model (a gateway may refuse the field)
    assert "output_format" not in request_body(task(), "vendor/some-model", wanted)
    # the manifest's params choose for themselves
    body = request_body(task(output_format="png"), "gpt-image-2", wanted)
    assert body["output_format"] == "png" and "output_compression" not in body


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    config = EmulatorConfig(time_scale=0, image_bytes="small", api_key=KEY)
    async with running_emulator(config) as emu:
        yield emu


@pytest.fixture
def encoded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The sizes of the images batchgen encodes itself (derive.encode, spied on)."""
    sizes: list[tuple[int, int]] = []
    real_encode = derive.encode

    def spy(image: Image.Image, target: str, quality: int) -> bytes:
        sizes.append(image.size)
        return real_encode(image, target, quality)

    monkeypatch.setattr(derive, "encode", spy)
    return sizes


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
async def test_the_openai_sdk_sends_output_format_and_gets_that_format(
    emulator: Emulator, fmt: str
) -> None:
    openai = pytest.importorskip("openai")
    client = openai.AsyncOpenAI(
        base_url=emulator.base_url + "/openai/v1", api_key=KEY, max_retries=0
    )
    async with client:
        answer = await client.images.generate(
            model="gpt-image-2", prompt="a mug", output_format=fmt, output_compression=50
        )
    assert answer.output_format == fmt
    data = base64.b64decode(answer.data[0].b64_json or "")
    assert data.startswith(MAGIC[fmt])
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == fmt.upper()


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
async def test_a_run_writes_the_models_own_jpeg_or_webp_without_re_encoding_it(
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
    encoded: list[tuple[int, int]],
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    body = f"""version: 1
models: [gpt-image-2]
aspect_ratios: ["1:1", "16:9"]
prompts: [a mug, a lamp]
output: {{format: {fmt}, quality: 55, sizes: [{{width: 200}}]}}
"""
    manifest = load(tmp_path, body)
    provider = ProviderConfig(
        kind="openai", base_url=emulator.base_url + "/openai/v1", api_key_env=KEY_ENV
    )
    manifest = dataclasses.replace(manifest, provider=provider)
    job = await run_job(manifest, RunOptions(out=tmp_path / "run"))
    assert job.result.status == "complete" and job.summary.tasks.done == 4
    lines = (tmp_path / "run" / "index.jsonl").read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]
    assert sorted(e["size"] for e in entries) == ["200"] * 4 + ["original"] * 4
    for entry in entries:
        data = (tmp_path / "run" / entry["path"]).read_bytes()
        assert data.startswith(MAGIC[fmt]) and entry["mime_type"] == f"image/{fmt}"
    # only the 200 px variants were encoded here: the originals are the model's own bytes
    assert encoded and all(width == 200 for width, _ in encoded)
    assert len(encoded) == 4


async def test_a_batch_job_asks_for_the_format_too(
    tmp_path: Path, encoded: list[tuple[int, int]]
) -> None:
    """mode: batch (the Batch API's lines carry the same request body): the model's WebP is
    written as it came; the process phase is timed there too."""
    config = EmulatorConfig(time_scale=0, image_bytes="small")
    async with running_emulator(config) as emulator:
        text = (
            "version: 1\nname: nightly\n"
            f"provider: {{kind: emulator, dialect: openai, base_url: '{emulator.base_url}'}}\n"
            "models: [gpt-image-2]\nmode: batch\nprompts: [a mug, a lamp, a vase]\n"
            f"output: {{dir: '{tmp_path / 'out'}', format: webp, sizes: [{{width: 100}}]}}\n"
        )
        manifest = parse_manifest(text, source=tmp_path / "job.yaml")
        job = await run_job(manifest, RunOptions(html=False, batch_poll_s=0))
    assert (job.result.done, job.result.failed) == (3, 0)
    entries = [
        json.loads(line)
        for line in (job.run_dir / "index.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(entries) == 6
    for entry in entries:
        assert (job.run_dir / entry["path"]).read_bytes().startswith(b"RIFF")
    assert len(encoded) == 3 and all(width == 100 for width, _ in encoded)
    assert job.summary.latency_s.process.count == 3
