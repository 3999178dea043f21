"""The emulator's injected faults, its fault spec, its checked config and its latency draws."""

from __future__ import annotations

import random
from typing import Any

import aiohttp
import pytest

from batchgen.emulator import (
    EmulatorConfig,
    FaultSpec,
    parse_faults,
)
from batchgen.emulator.faults import FaultDraws
from batchgen.emulator.profiles import MODELS
from tests.emulator_kit import (
    FAST,
    GENERATIONS,
    PREVIEW,
    ULTRA,
    assert_error_body,
    decode_png,
    download,
    emulator,
    generate,
)

pytestmark = pytest.mark.anyio


# --- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "message"),
    [
        ("429", 429, "Too Many Requests"),
        ("500", 500, "Internal server error"),
        ("502", 502, "Bad Gateway"),
        ("503", 503, "Service unavailable"),
        ("504", 504, "Generation timeout"),
        ("policy", 400, "blocked by the safety filter"),
    ],
)
async def test_error_faults(fault: str, status: int, message: str) -> None:
    async with (
        emulator(faults=parse_faults(f"{fault}=1")) as (running, session),
        session.post(GENERATIONS, json={"model": FAST, "prompt": "p"}) as response,
    ):
        assert response.status == status
        body = await response.json()
        retry_after = response.headers.get("Retry-After")
    assert_error_body(body, status)
    assert message in body["message"]
    assert retry_after == ("1" if status == 429 else None)
    assert running.stats.faults_injected == {fault: 1}


async def test_badjson_fault_is_200_with_a_broken_body() -> None:
    async with (
        emulator(faults=parse_faults("badjson=1")) as (_, session),
        session.post(GENERATIONS, json={"model": FAST, "prompt": "p"}) as response,
    ):
        assert response.status == 200
        with pytest.raises(ValueError):
            await response.json()


async def test_html_fault_is_a_proxy_page() -> None:
    async with (
        emulator(faults=parse_faults("html=1")) as (_, session),
        session.post(GENERATIONS, json={"model": FAST, "prompt": "p"}) as response,
    ):
        assert response.status == 502
        assert response.content_type == "text/html"
        assert "<h1>502 Bad Gateway</h1>" in await response.text()


async def test_reset_fault_drops_the_connection() -> None:
    async with emulator(faults=parse_faults("reset=1")) as (running, session):
        with pytest.raises(aiohttp.ClientConnectionError):
            await generate(session)
    assert running.stats.faults_injected == {"reset": 1}
    assert not running.stats.responses


async def test_retired_model_answers_404_and_others_still_work() -> None:
    async with emulator(faults=parse_faults("retired=google/imagen4/preview")) as (_, session):
        status, body = await generate(session, model="imagen4/preview")
        assert (status, body["message"]) == (404, "Model not found")
        assert_error_body(body, 404)
        assert (await generate(session, model=FAST))[0] == 200


async def test_truncate_fault_cuts_the_download_short() -> None:
    async with emulator(faults=parse_faults("truncate=1")) as (running, session):
        _, body = await generate(session)
        async with session.get(body["data"][0]["url"]) as response:
            assert response.status == 200
            promised = int(response.headers["Content-Length"])
            with pytest.raises(aiohttp.ClientPayloadError):
                await response.read()
    assert 0 < running.stats.bytes_served < promised
    assert running.stats.faults_injected == {"truncate": 1}


async def test_slow_fault_still_delivers_the_whole_file() -> None:
    async with emulator(faults=parse_faults("slow=1"), time_scale=0.001) as (running, session):
        _, body = await generate(session)
        response, data = await download(session, body["data"][0]["url"])
    assert int(response.headers["Content-Length"]) == len(data)
    decode_png(data)
    assert running.stats.faults_injected == {"slow": 1}


async def test_fault_draws_repeat_with_the_seed() -> None:
    async def statuses(seed: int) -> list[int]:
        spec = parse_faults("500=0.3,503=0.3")
        async with emulator(faults=spec, seed=seed) as (_, session):
            return [(await generate(session))[0] for _ in range(20)]

    first = await statuses(7)
    assert first == await statuses(7)
    assert {200, 500, 503} <= set(first)


def test_parse_faults_reads_the_documented_example() -> None:
    spec = parse_faults(
        "429=0.05,500=0.02,502=0.01,503=0.01,504=0.01,reset=0.01,slow=0.01,truncate=0.02,"
        "badjson=0.01,html=0.01,policy=0.01,retired=google/imagen4/preview"
    )
    assert spec.rates["429"] == 0.05
    assert spec.rates["truncate"] == 0.02
    assert spec.retired == frozenset({PREVIEW})
    assert spec.is_retired("imagen4/preview")
    assert parse_faults(" ") == FaultSpec()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("teapot=0.1", "'teapot'"),
        ("500=abc", "'500'"),
        ("500=1.5", "'500'"),
        ("500=-0.1", "'500'"),
        ("500=nan", "'500'"),
        ("500", "'500'"),
        ("500=0.1,500=0.2", "'500'"),
        ("500=0.6,503=0.6", "500+503"),
        ("retired=flux-dev", "'flux-dev'"),
        ("retired=", "'retired='"),
    ],
)
def test_parse_faults_errors_name_the_bad_part(text: str, named: str) -> None:
    with pytest.raises(ValueError, match=named.replace("+", r"\+")):
        parse_faults(text)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"time_scale": -1.0}, "time_scale"),
        ({"rpm": 0}, "rpm"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"api_key": ""}, "api_key"),
        ({"image_bytes": "huge"}, "image_bytes"),
        ({"image_bytes": 10}, "image_bytes"),
        ({"seed": True}, "seed"),
    ],
)
def test_config_is_checked_up_front(settings: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        EmulatorConfig(**settings)


# --- latency profiles --------------------------------------------------------------------------


def test_latency_profiles_follow_the_published_figures() -> None:
    rng = random.Random(0)
    fast = sorted(MODELS[FAST].sample_latency(rng) for _ in range(4000))
    assert 4.6 <= fast[2000] <= 5.0
    assert 5.4 <= fast[3800] <= 6.0
    ultra = [MODELS[ULTRA].sample_latency(rng) for _ in range(1000)]
    assert min(ultra) >= 20.0
    assert max(ultra) <= 45.0


def test_each_kind_of_request_draws_its_faults_from_its_own_stream() -> None:
    """The n-th download gets the same fault whatever generations came between: under load
    the two kinds interleave differently, and a seeded test must still see its faults."""
    spec = parse_faults("500=0.3,503=0.2,truncate=0.3,slow=0.1")
    alone = FaultDraws(spec, seed=7)
    downloads_alone = [alone.download() for _ in range(200)]
    mixed = FaultDraws(spec, seed=7)
    rng = random.Random(1)
    downloads_mixed: list[str | None] = []
    generations: list[str | None] = []
    while len(downloads_mixed) < 200:
        if rng.random() < 0.6:
            generations.append(mixed.generation())
        else:
            downloads_mixed.append(mixed.download())
    assert downloads_mixed == downloads_alone
    assert {"truncate", "slow", None} == set(downloads_alone)
    again = FaultDraws(spec, seed=7)
    assert [again.generation() for _ in generations] == generations
