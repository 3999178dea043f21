"""The emulator against a real aiohttp client on loopback: wire format, PNGs, limits, faults."""

from __future__ import annotations

import base64
import io
import json
import random
import re
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from PIL import Image

from batchgen.emulator import (
    Emulator,
    EmulatorConfig,
    FaultSpec,
    create_app,
    parse_faults,
    running_emulator,
    stats_of,
)
from batchgen.emulator.faults import StartWindow
from batchgen.emulator.profiles import MODELS
from batchgen.emulator.state import STATE

pytestmark = pytest.mark.anyio

FAST = "google/imagen-4.0-fast-generate-001"
STANDARD = "google/imagen-4.0-generate-001"
ULTRA = "google/imagen-4.0-ultra-generate-001"
PREVIEW = "google/imagen4/preview"
GENERATIONS = "/v1/images/generations"
SIZES = {
    "1:1": (1024, 1024),
    "3:4": (896, 1280),
    "4:3": (1280, 896),
    "9:16": (768, 1408),
    "16:9": (1408, 768),
}


class FakeClock:
    """A clock the test moves by hand, so rate windows need no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def emulator(
    clock: FakeClock | None = None, **settings: Any
) -> AsyncIterator[tuple[Emulator, aiohttp.ClientSession]]:
    config = EmulatorConfig(**{"time_scale": 0.0, "image_bytes": "small", **settings})
    async with (
        running_emulator(config, clock=clock) as running,
        aiohttp.ClientSession(running.base_url) as session,
    ):
        yield running, session


async def generate(
    session: aiohttp.ClientSession, headers: dict[str, str] | None = None, **body: Any
) -> tuple[int, dict[str, Any]]:
    payload = {"model": FAST, "prompt": "Racoon eating ice-cream", **body}
    async with session.post(GENERATIONS, json=payload, headers=headers) as response:
        return response.status, await response.json()


async def download(
    session: aiohttp.ClientSession, url: str
) -> tuple[aiohttp.ClientResponse, bytes]:
    async with session.get(url) as response:
        return response, await response.read()


def decode_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()  # decodes every row, so a broken file fails here
    return image


def assert_error_body(body: dict[str, Any], status: int, path: str = GENERATIONS) -> None:
    assert set(body) == {"message", "path", "requestId", "statusCode", "timestamp"}
    assert body["statusCode"] == status
    assert body["path"] == path
    uuid.UUID(body["requestId"])
    assert body["timestamp"].endswith("Z")
    datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))


# --- response shapes and usage ---------------------------------------------------------------


@pytest.mark.parametrize(("model", "credits"), [(FAST, 42000), (STANDARD, 84000), (ULTRA, 126000)])
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


@pytest.mark.parametrize("model", [PREVIEW, "imagen4/preview"])
async def test_preview_answers_fal_shape(model: str) -> None:
    async with emulator() as (_, session):
        status, body = await generate(session, model=model, num_images=2, seed=1234)
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


# --- PNG files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("aspect", "size"), list(SIZES.items()))
async def test_realistic_png_per_aspect(aspect: str, size: tuple[int, int]) -> None:
    async with emulator(image_bytes="realistic") as (_, session):
        _, body = await generate(session, aspect_ratio=aspect)
        response, data = await download(session, body["data"][0]["url"])
    assert response.status == 200
    assert response.headers["Content-Type"] == "image/png"
    assert int(response.headers["Content-Length"]) == len(data)
    assert 1_300_000 <= len(data) <= 1_800_000
    image = decode_png(data)
    assert image.size == size
    assert image.format == "PNG"


@pytest.mark.parametrize(("image_bytes", "target"), [("small", 100_000), (250_000, 250_000)])
async def test_png_byte_size_follows_config(image_bytes: str | int, target: int) -> None:
    async with emulator(image_bytes=image_bytes) as (_, session):
        _, body = await generate(session, aspect_ratio="16:9")
        _, data = await download(session, body["data"][0]["url"])
    assert 0.85 * target <= len(data) <= 1.15 * target
    assert decode_png(data).size == (1408, 768)


async def test_every_image_is_a_distinct_file() -> None:
    async with emulator() as (_, session):
        urls = [item["url"] for item in (await generate(session, num_images=4))[1]["data"]]
        urls += [item["url"] for item in (await generate(session, num_images=2))[1]["data"]]
        files = [(await download(session, url))[1] for url in urls]
    assert len(set(urls)) == len(set(files)) == 6
    for data in files:
        decode_png(data)


@pytest.mark.parametrize(
    "name",
    [
        "nonsense",
        "1000x1000-100000-" + "0" * 32 + "-0-deadbeef",  # a size the server never makes
        "1024x1024-999-" + "0" * 32 + "-0-deadbeef",  # a byte target out of range
        "1024x1024-100000-" + "0" * 31 + "-0-deadbeef",
    ],
)
async def test_bad_file_token_is_404(name: str) -> None:
    async with emulator() as (_, session), session.get(f"/files/{name}.png") as response:
        assert response.status == 404
        assert_error_body(await response.json(), 404, f"/files/{name}.png")


# --- the server's own limits -------------------------------------------------------------------


async def test_rpm_window_answers_429_with_retry_after() -> None:
    clock = FakeClock()
    async with emulator(clock=clock, rpm=3) as (running, session):
        for _ in range(3):
            assert (await generate(session))[0] == 200
            clock.now += 1.0
        async with session.post(GENERATIONS, json={"model": FAST, "prompt": "p"}) as response:
            assert response.status == 429
            assert response.headers["Retry-After"] == "57"
            body = await response.json()
        assert_error_body(body, 429)
        assert body["message"] == "Too Many Requests"
        clock.now += 56.5  # 0.5 s before the first start leaves the window
        assert (await generate(session))[0] == 429
        clock.now += 0.5
        assert (await generate(session))[0] == 200
        assert len(running.stats.start_times) == 4  # rejected requests are not starts
        assert running.stats.max_starts_in_window(60.0) == 3


def test_fractional_rpm_widens_the_window() -> None:
    window = StartWindow(0.5)  # one start every 120 s
    window.record(0.0)
    assert window.retry_after(100.0) == 20
    assert window.retry_after(120.0) is None


async def test_max_concurrency_answers_429() -> None:
    async with emulator(max_concurrency=1, time_scale=0.1) as (running, session):
        async with anyio.create_task_group() as group:
            first: list[int] = []

            async def slow_request() -> None:
                first.append((await generate(session))[0])

            group.start_soon(slow_request)
            with anyio.fail_after(10):
                while running.stats.in_flight == 0:  # noqa: ASYNC110  # a counter, no event to await
                    await anyio.sleep(0.005)
            async with session.post(GENERATIONS, json={"model": FAST, "prompt": "p"}) as response:
                assert response.status == 429
                assert response.headers["Retry-After"] == "1"
        assert first == [200]
        assert running.stats.max_in_flight == 1
        assert running.stats.in_flight == 0


async def test_stats_count_requests_images_and_bytes() -> None:
    clock = FakeClock()
    async with emulator(clock=clock) as (running, session):
        for step in (0.0, 0.2, 0.3, 5.0):
            clock.now += step
            _, body = await generate(session, model=STANDARD, num_images=2)
        await generate(session, prompt="")
        _, data = await download(session, body["data"][0]["url"])
        async with session.get("/_emulator/stats") as response:
            served = await response.json()
    stats = running.stats
    assert stats.requests_total == 6
    assert stats.generation_requests == 5
    assert dict(stats.responses) == {200: 5, 400: 1}
    assert stats.images_generated == 8
    assert stats.credits_billed == 8 * 84000
    assert (stats.downloads, stats.bytes_served) == (1, len(data))
    assert stats.max_starts_in_window(1.0) == 3
    assert stats.max_starts_in_window(0.25) == 2
    assert stats.max_in_flight == 1
    assert served == stats.snapshot()
    assert served["responses"] == {"200": 5, "400": 1}
    assert served["usd_billed"] == 8 * 0.042


async def test_create_app_exposes_the_same_counters() -> None:
    app = create_app(EmulatorConfig(time_scale=0))
    assert stats_of(app).requests_total == 0


async def test_abandoned_generations_end_with_the_emulator() -> None:
    async with emulator(time_scale=1.0) as (running, session):
        body = {"model": ULTRA, "prompt": "p"}
        with pytest.raises(TimeoutError):
            await session.post(GENERATIONS, json=body, timeout=aiohttp.ClientTimeout(total=0.05))
        assert running.stats.in_flight == 1  # the server keeps generating, as a real one would
    assert running.stats.in_flight == 0


def test_serve_prints_its_url_and_stops_on_ctrl_c() -> None:
    code = "from batchgen.emulator import *; serve(EmulatorConfig(time_scale=0), port=0)"
    repo = Path(__file__).resolve().parent.parent
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=repo
    ) as process:
        assert process.stdout is not None
        found = re.search(r"http://\S+", process.stdout.readline())
        assert found is not None
        base_url = found[0]
        payload = json.dumps({"model": FAST, "prompt": "p"}).encode()
        request = urllib.request.Request(f"{base_url}{GENERATIONS}", data=payload)
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.load(response)["meta"]["usage"]["credits_used"] == 42000
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0


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


async def test_capacity_can_change_while_running() -> None:
    config = EmulatorConfig(time_scale=0, max_concurrency=8)
    async with running_emulator(config) as emulator, aiohttp.ClientSession() as session:
        url = f"{emulator.base_url}/_emulator/limits"
        async with session.put(url, json={"max_concurrency": 2}) as response:
            assert response.status == 200
        assert emulator.app[STATE].max_concurrency == 2
        async with session.put(url, json={"max_concurrency": 0}) as response:
            assert response.status == 400
        async with session.put(url, json={"max_concurrency": None}) as response:
            assert (await response.json()) == {"max_concurrency": None}
