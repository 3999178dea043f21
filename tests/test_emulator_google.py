"""The emulator's Google dialect takes what the real API takes: the google-genai SDK's enum
names and the proto3 JSON mapping's field names in snake_case (issue 12 point 5)."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image

from batchgen.emulator.google import proto_json
from tests.emulator_kit import emulator

pytestmark = pytest.mark.anyio
KEY = "google-test-key"
CONTENT = "/v1beta/models/gemini-3.1-flash-image:generateContent"
PREDICT = "/v1beta1/publishers/google/models/imagen-4.0-generate-001:predict"


async def post(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with emulator(api_key=KEY) as (_, session):
        headers = {"x-goog-api-key": KEY}
        async with session.post(path, json=body, headers=headers) as response:
            return response.status, await response.json()


def pixels(blob: str) -> tuple[int, int]:
    with Image.open(io.BytesIO(base64.b64decode(blob))) as image:
        return (image.width, image.height)


async def test_snake_case_field_names_are_read_like_camel_case() -> None:
    """litellm's gemini route sends these; proto3 JSON says a server accepts both spellings."""
    status, answer = await post(
        CONTENT,
        {
            "contents": [{"role": "user", "parts": [{"text": "a lighthouse"}]}],
            "generation_config": {
                "response_modalities": ["IMAGE"],
                "image_config": {"aspect_ratio": "16:9", "image_size": "2K"},
            },
        },
    )
    assert status == 200, answer
    (candidate,) = answer["candidates"]
    (part,) = candidate["content"]["parts"]  # no text part: IMAGE only was asked
    assert pixels(part["inlineData"]["data"]) == (2752, 1536)


async def test_snake_case_predict_parameters() -> None:
    status, answer = await post(
        PREDICT,
        {
            "instances": [{"prompt": "a fox"}],
            "parameters": {
                "sample_count": 2,
                "aspect_ratio": "9:16",
                "include_safety_attributes": True,
            },
        },
    )
    assert status == 200, answer
    images = [p for p in answer["predictions"] if "bytesBase64Encoded" in p]
    assert [pixels(p["bytesBase64Encoded"]) for p in images] == [(768, 1408)] * 2
    assert answer["predictions"][-1]["contentType"] == "Positive Prompt"


@pytest.mark.parametrize("value", ["ALLOW_ADULT", "DONT_ALLOW", "ALLOW_ALL", "allow_adult"])
async def test_person_generation_in_the_sdks_spelling(value: str) -> None:
    status, answer = await post(
        PREDICT,
        {"instances": [{"prompt": "a crowd"}], "parameters": {"personGeneration": value}},
    )
    assert status == 200, answer


async def test_an_unknown_person_generation_is_still_refused() -> None:
    status, answer = await post(
        PREDICT,
        {"instances": [{"prompt": "a crowd"}], "parameters": {"personGeneration": "EVERYONE"}},
    )
    assert status == 400 and answer["error"]["status"] == "INVALID_ARGUMENT"


def test_labels_keep_their_keys() -> None:
    """A map of the user's own keys is data, not field names: it is not renamed."""
    assert proto_json({"labels": {"my_team": "a"}, "sample_count": 1}) == {
        "labels": {"my_team": "a"},
        "sampleCount": 1,
    }
    assert proto_json({"sample_count": 1, "sampleCount": 2}) == {"sampleCount": 2}
