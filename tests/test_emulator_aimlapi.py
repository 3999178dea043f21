"""The AI/ML API dialect of the emulator: response shapes, usage, request validation, keys."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.emulator_kit import (
    FAST,
    GENERATIONS,
    PREVIEW,
    STANDARD,
    ULTRA,
    assert_error_body,
    decode_png,
    download,
    emulator,
    generate,
)

pytestmark = pytest.mark.anyio


# --- response shapes and usage ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "credits"),
    [(FAST, 42000), (STANDARD, 84000), (ULTRA, 126000), ("imagen4/preview", 120000)],
)
async def test_ga_models_answer_shape_a_with_usage(model: str, credits: int) -> None:
    async with emulator() as (running, session):
        status, body = await generate(session, model=model, num_images=3, prompt="a red fox")
    assert status == 200
    assert set(body) == {"data", "meta", "model"}
    assert body["model"] == model
    assert len(body["data"]) == 3
    for item in body["data"]:
        assert item["url"].startswith(f"{running.base_url}/files/")
        assert item["url"].endswith(".png")
        assert item["b64_json"] is None
        assert item["mime_type"] == "image/png"
        assert item["prompt"] == "a red fox"
    assert body["meta"]["usage"] == {"credits_used": 3 * credits, "usd_spent": 3 * credits / 2e6}


# issue 12 point 4: imagen4/preview (aimlapi-docs imagen-4-generate.json, Aug 2026) answers
# data/meta with credits_used, usd_spent and model, like the GA models (case above); only
# google/imagen4/preview keeps fal's images/seed pass-through.
async def test_preview_answers_fal_shape() -> None:
    async with emulator() as (_, session):
        status, body = await generate(session, model=PREVIEW, num_images=2, seed=1234)
        assert status == 200
        assert set(body) == {"images", "seed"}
        assert body["seed"] == 1234
        assert len(body["images"]) == 2
        for item in body["images"]:
            assert item["content_type"] == "image/png"
            assert item["file_name"] == "output.png"
            _, data = await download(session, item["url"])
            assert item["file_size"] == len(data)


async def test_preview_picks_a_seed_when_none_is_given() -> None:
    async with emulator() as (_, session):
        _, body = await generate(session, model=PREVIEW)
    assert isinstance(body["seed"], int)
    assert 0 <= body["seed"] <= 4294967295


async def test_preview_answers_base64_when_urls_are_not_wanted() -> None:
    """issue 12 point 4: google/imagen4/preview honours convert_base64_to_url: false."""
    async with emulator() as (_, session):
        status, body = await generate(
            session, model=PREVIEW, convert_base64_to_url=False, aspect_ratio="16:9"
        )
    assert status == 200
    [item] = body["data"]
    assert item["url"] is None
    assert decode_png(base64.b64decode(item["b64_json"])).size == (1408, 768)


@pytest.mark.parametrize(("model", "longest"), [(PREVIEW, 400), (FAST, 400)])
async def test_prompt_limit_follows_the_current_schema(model: str, longest: int) -> None:
    """issue 12 point 4: imagen-4-preview.json at f14fa72f says maxLength 400 (was 4,000)."""
    async with emulator() as (_, session):
        ok, _ = await generate(session, model=model, prompt="x" * longest)
        refused, body = await generate(session, model=model, prompt="x" * (longest + 1))
    assert (ok, refused) == (200, 400)
    assert "prompt" in body["message"]


async def test_imagen4_preview_takes_a_long_prompt() -> None:
    """imagen-4-generate.json states no maxLength for imagen4/preview."""
    async with emulator() as (_, session):
        status, _ = await generate(session, model="imagen4/preview", prompt="x" * 5000)
    assert status == 200


async def test_b64_json_when_urls_are_not_wanted() -> None:
    async with emulator() as (_, session):
        status, body = await generate(
            session, convert_base64_to_url=False, num_images=2, aspect_ratio="16:9"
        )
    assert status == 200
    blobs = [item["b64_json"] for item in body["data"]]
    assert all(item["url"] is None for item in body["data"])
    assert blobs[0] != blobs[1]
    for blob in blobs:
        assert decode_png(base64.b64decode(blob)).size == (1408, 768)


async def test_unknown_keys_and_boundary_values_are_accepted() -> None:
    async with emulator() as (_, session):
        status, _ = await generate(
            session,
            prompt="x" * 400,
            num_images=4,
            seed=4294967295,
            negative_prompt="ignored",
            enhance_prompt=False,
            add_watermark=True,
            person_generation="dont_allow",
            safety_setting="block_only_high",
        )
    assert status == 200


# --- validation and auth -----------------------------------------------------------------------

INVALID_BODIES: list[tuple[Any, str]] = [
    ([], "Expected object, received array"),
    ({"prompt": "p"}, "model: Required"),
    ({"model": "dall-e-3", "prompt": "p"}, f"Invalid enum value. Expected '{FAST}'"),
    ({"model": "dall-e-3", "prompt": "p"}, "received 'dall-e-3'"),
    ({"model": 7, "prompt": "p"}, "model: Expected"),
    ({"model": FAST}, "prompt: Required"),
    ({"model": FAST, "prompt": 5}, "prompt: Expected string, received number"),
    ({"model": FAST, "prompt": ""}, "at least 1 character(s)"),
    ({"model": FAST, "prompt": "x" * 401}, "at most 400 character(s)"),
    ({"model": FAST, "prompt": "p", "num_images": 0}, "greater than or equal to 1"),
    ({"model": FAST, "prompt": "p", "num_images": 5}, "less than or equal to 4"),
    ({"model": FAST, "prompt": "p", "num_images": 1.5}, "Expected integer, received float"),
    ({"model": FAST, "prompt": "p", "num_images": "2"}, "Expected number, received string"),
    ({"model": FAST, "prompt": "p", "num_images": True}, "Expected number, received boolean"),
    ({"model": FAST, "prompt": "p", "aspect_ratio": "2:1"}, "aspect_ratio: Invalid enum value"),
    ({"model": FAST, "prompt": "p", "seed": -1}, "seed: Number must be greater than or equal to 0"),
    ({"model": FAST, "prompt": "p", "seed": 2**32}, "seed: Number must be less than or equal to"),
    ({"model": FAST, "prompt": "p", "convert_base64_to_url": "no"}, "Expected boolean"),
    ({"model": FAST, "prompt": "p", "enhance_prompt": 1}, "enhance_prompt: Expected boolean"),
    ({"model": FAST, "prompt": "p", "add_watermark": None}, "received null"),
    ({"model": FAST, "prompt": "p", "person_generation": "all"}, "person_generation: Invalid"),
    ({"model": FAST, "prompt": "p", "safety_setting": "off"}, "safety_setting: Invalid enum"),
]


@pytest.mark.parametrize(("body", "detail"), INVALID_BODIES)
async def test_invalid_bodies_answer_400(body: Any, detail: str) -> None:
    async with emulator() as (_, session), session.post(GENERATIONS, json=body) as response:
        assert response.status == 400
        error = await response.json()
    assert_error_body(error, 400)
    assert error["message"].startswith("Body validation error!")
    assert detail in error["message"]


async def test_malformed_json_answers_400() -> None:
    async with emulator() as (_, session), session.post(GENERATIONS, data=b"{nope") as response:
        assert response.status == 400
        assert "Malformed JSON" in (await response.json())["message"]


async def test_api_key_is_demanded_when_configured() -> None:
    async with emulator(api_key="sk-test") as (running, session):
        missing, body = await generate(session)
        wrong, _ = await generate(session, headers={"Authorization": "Bearer sk-other"})
        right, _ = await generate(session, headers={"Authorization": "Bearer sk-test"})
    assert (missing, wrong, right) == (401, 401, 200)
    assert_error_body(body, 401)
    assert body["message"].startswith("This request requires a valid API key")
    assert running.stats.responses[401] == 2


async def test_any_key_or_none_is_fine_without_api_key() -> None:
    async with emulator() as (_, session):
        assert (await generate(session))[0] == 200
        assert (await generate(session, headers={"Authorization": "Bearer x"}))[0] == 200
