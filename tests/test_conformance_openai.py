"""The OpenAI dialect against OpenAI's published spec (openai/openai-openapi at f85dbe22,
vendored in tests/data/specs/openai) and, strictly, against the openai SDK's own pydantic
response type: what batchgen sends, what the emulator answers, and what the SDK documents that
the emulator must take (jpeg/webp with output_compression, custom WxH sizes; issue 12 point 7)."""

from __future__ import annotations

import base64
import dataclasses
import io
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from batchgen.models import ProviderConfig
from batchgen.run.job import RunOptions, run_job
from tests.conformance import KEY, openai_validator, recording_emulator
from tests.helpers import load

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.anyio
KEY_ENV = "BATCHGEN_CONFORMANCE_KEY"
PATH = "/openai/v1/images/generations"


def spec_problems(schema: str, instance: Any) -> list[str]:
    return [error.message for error in openai_validator(schema).iter_errors(instance)]


async def post(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with recording_emulator() as emulator, aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {KEY}"}
        async with session.post(emulator.base_url + PATH, json=body, headers=headers) as answer:
            return answer.status, await answer.json()


def image_of(blob: str) -> tuple[str | None, tuple[int, int]]:
    with Image.open(io.BytesIO(base64.b64decode(blob))) as image:
        image.load()
        return image.format, image.size


async def test_batchgen_sends_what_the_spec_allows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    manifest = load(tmp_path, """
        version: 1
        provider: {kind: openai}
        models: [gpt-image-2, gpt-image-2.5-flare]
        aspect_ratios: ["1:1", "3:4", "4:3", "9:16", "16:9"]
        resolution: 2K
        num_images: 2
        params: {quality: low, output_format: jpeg, output_compression: 60, moderation: low}
        prompts: [a lighthouse at dusk]
    """)  # fmt: skip
    async with recording_emulator() as emulator:
        provider = ProviderConfig(
            kind="openai", base_url=emulator.base_url + "/openai/v1", api_key_env=KEY_ENV
        )
        job = await run_job(
            dataclasses.replace(manifest, provider=provider), RunOptions(out=tmp_path / "run")
        )
        sent = emulator.sent_to(PATH)
    assert job.result.status == "complete" and job.result.done == 10
    assert len(sent) == 10
    for body in sent:
        assert spec_problems("CreateImageRequest", body) == [], body
    assert {body["size"] for body in sent} == {
        "2048x2048", "1792x2560", "2560x1792", "1536x2816", "2816x1536"
    }  # fmt: skip
    files = [path for path in (job.run_dir / "images").rglob("*") if path.is_file()]
    assert len(files) == 20
    for path in files:
        with Image.open(path) as image:
            assert image.format == "JPEG", path


@pytest.mark.parametrize(
    "body",
    [
        {"model": "gpt-image-2", "prompt": "p"},
        {"model": "gpt-image-2", "prompt": "p", "n": 3, "size": "1536x1024"},
        {"model": "gpt-image-1.5", "prompt": "p", "output_format": "webp"},
        {"model": "gpt-image-1-mini", "prompt": "p", "size": "1024x1536", "quality": "low"},
        {"model": "chatgpt-image-latest", "prompt": "p"},
        {"model": "gpt-image-2.6-sunburst", "prompt": "p", "background": "opaque"},
    ],
)
async def test_answers_validate_against_the_spec_and_strictly_against_the_sdk(
    body: dict[str, Any],
) -> None:
    status, answer = await post(body)
    assert status == 200, answer
    openai.types.ImagesResponse.model_validate(answer, strict=True)  # issue 12 point 7
    assert answer["usage"]["input_tokens_details"].keys() == {"image_tokens", "text_tokens"}
    assert spec_problems("ImagesResponse", answer) == []
    assert len(answer["data"]) == body.get("n", 1)


@pytest.mark.parametrize(("output_format", "pil"), [("jpeg", "JPEG"), ("webp", "WEBP")])
async def test_jpeg_and_webp_with_compression_as_the_sdk_documents(
    output_format: str, pil: str
) -> None:
    body = {"model": "gpt-image-2", "prompt": "p", "size": "1024x1024"}
    status, answer = await post(body | {"output_format": output_format, "output_compression": 40})
    assert status == 200, answer
    assert answer["output_format"] == output_format
    assert image_of(answer["data"][0]["b64_json"])[0] == pil
    openai.types.ImagesResponse.model_validate(answer, strict=True)


async def test_compression_is_for_jpeg_and_webp_only() -> None:
    status, answer = await post({"model": "gpt-image-2", "prompt": "p", "output_compression": 50})
    assert status == 400 and "output_compression" in answer["error"]["message"]


@pytest.mark.parametrize(
    ("model", "size", "ok"),
    [
        ("gpt-image-2", "1536x864", True),  # the SDK's own example
        ("gpt-image-2.5-sunburst", "1408x768", True),
        ("gpt-image-2", "1000x1000", False),  # not multiples of 16
        ("gpt-image-2", "2048x512", False),  # wider than 3:1
        ("gpt-image-2", "4096x2304", False),  # past 3840x2160
        ("gpt-image-1.5", "1536x864", False),  # fixed sizes only
    ],
)
async def test_custom_sizes_follow_the_sdks_rules(model: str, size: str, ok: bool) -> None:
    status, answer = await post({"model": model, "prompt": "p", "size": size})
    assert status == (200 if ok else 400), answer
    if ok:
        width, height = (int(side) for side in size.split("x"))
        assert image_of(answer["data"][0]["b64_json"])[1] == (width, height)
        assert answer["size"] == size
        openai.types.ImagesResponse.model_validate(answer, strict=True)


@pytest.mark.parametrize("model", ["dall-e-2", "dall-e-3", "gpt-image-1"])
async def test_retired_models_answer_404_model_not_found(model: str) -> None:
    status, answer = await post({"model": model, "prompt": "p"})
    assert status == 404 and answer["error"]["code"] == "model_not_found"
