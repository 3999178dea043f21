"""The emulator's fal dialect behaves like fal's queue: a result is stored (every GET gives the
same files) and bad input is accepted at submit and reported as 422 by the result URL
(issue 12 point 6)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator_kit import emulator

pytestmark = pytest.mark.anyio
KEY = "fal-test-key"
HEADERS = {"Authorization": f"Key {KEY}"}


async def submit_and_read(body: dict[str, Any], app: str) -> list[tuple[int, Any]]:
    """Submit, then status, result and result again: each (HTTP status, JSON)."""
    async with emulator(api_key=KEY) as (_, session):
        async with session.post(f"/fal/{app}", json=body, headers=HEADERS) as response:
            answers = [(response.status, await response.json())]
        urls = answers[0][1]
        for url in (urls["status_url"], urls["response_url"], urls["response_url"]):
            async with session.get(url, headers=HEADERS) as response:
                answers.append((response.status, await response.json()))
        return answers


async def test_two_gets_of_a_result_give_the_same_answer() -> None:
    answers = await submit_and_read({"prompt": "a fox", "num_images": 2}, "fal-ai/imagen4/preview")
    (_, _), (_, status), (first, result), (second, again) = answers
    assert status["status"] == "COMPLETED"
    assert (first, second) == (200, 200)
    assert len(result["images"]) == 2
    assert result == again


@pytest.mark.parametrize(
    ("app", "body", "field"),
    [
        ("fal-ai/imagen4/preview/ultra", {"prompt": "a fox", "num_images": 2}, "num_images"),
        ("fal-ai/imagen4/preview", {"prompt": "a fox", "aspect_ratio": "2:1"}, "aspect_ratio"),
        ("fal-ai/imagen4/preview", {"num_images": 1}, "prompt"),
    ],
)
async def test_bad_input_is_taken_at_submit_and_reported_by_the_result(
    app: str, body: dict[str, Any], field: str
) -> None:
    answers = await submit_and_read(body, app)
    (submitted, handle), (_, status), (first, problem), (second, _) = answers
    assert submitted == 200 and handle["request_id"]
    assert status["status"] == "COMPLETED"
    assert (first, second) == (422, 422)
    assert field in str(problem["detail"])
