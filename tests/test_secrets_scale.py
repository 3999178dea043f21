"""The key goes only to the API origin and into no file; a million-task job starts lean."""

from __future__ import annotations

import base64
import dataclasses
import io
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from PIL import Image

from batchgen.emulator import EmulatorConfig, images, running_emulator
from batchgen.emulator.profiles import image_target_bytes
from batchgen.models import ProviderConfig
from batchgen.run.job import RunOptions, run_job
from batchgen.store import pngcheck
from tests.helpers import FAST, load, many_prompts
from tests.test_pipeline import _CancelAfter

pytestmark = pytest.mark.anyio
KEY = "sk-secret-5f2b9c1e7d"


def aimlapi_at(server: TestServer) -> str:
    """A manifest's provider block pointing at a test server, keyed from SECRET_KEY_ENV."""
    return f'{{kind: aimlapi, base_url: "{server.make_url("")}", api_key_env: SECRET_KEY_ENV}}'


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1024, 1024), (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
async def image_host() -> AsyncIterator[tuple[TestServer, list[dict[str, str]]]]:
    """A separate origin serving images, recording the headers it is sent."""
    seen: list[dict[str, str]] = []
    data = png_bytes()

    async def image(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(body=data, content_type="image/png")

    app = web.Application()
    app.router.add_get("/img/{name}", image)
    server = TestServer(app, host="127.0.0.1")
    async with server:
        yield server, seen


@pytest.fixture
async def api(
    image_host: tuple[TestServer, list[dict[str, str]]],
) -> AsyncIterator[tuple[TestServer, list[dict[str, str]]]]:
    """The API origin: answers with an image URL on the other origin (and echoes the key in a
    header it should never be copied from), or base64 for every second request."""
    host, _ = image_host
    seen: list[dict[str, str]] = []

    async def generate(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        if len(seen) % 2:
            items = [{"url": str(host.make_url(f"/img/{len(seen)}.png"))}]
        else:
            items = [{"b64_json": base64.b64encode(png_bytes()).decode()}]
        body = {"data": items, "meta": {"usage": {"credits_used": 42000}}}
        return web.json_response(body, headers={"X-Debug-Echo": request.headers["Authorization"]})

    app = web.Application()
    app.router.add_post("/v1/images/generations", generate)
    server = TestServer(app, host="127.0.0.1")
    async with server:
        yield server, seen


async def test_the_key_goes_only_to_the_api_and_into_no_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api: tuple[TestServer, list[dict[str, str]]],
    image_host: tuple[TestServer, list[dict[str, str]]],
) -> None:
    monkeypatch.setenv("SECRET_KEY_ENV", KEY)
    server, api_seen = api
    _, image_seen = image_host
    manifest = load(tmp_path, f"""
        version: 1
        provider: {aimlapi_at(server)}
        models: [{FAST}]
        {many_prompts(6)}
    """)  # fmt: skip
    job = await run_job(manifest, RunOptions(out=tmp_path / "run"))
    assert job.result.done == 6

    assert [h["Authorization"] for h in api_seen] == [f"Bearer {KEY}"] * 6
    assert len(image_seen) == 3
    assert all(KEY not in str(headers) for headers in image_seen)
    for file in tmp_path.rglob("*"):
        if file.is_file() and file.name != "job.yaml":
            assert KEY.encode() not in file.read_bytes(), file


async def _peak_memory_of_a_start(tmp_path: Path, side: int) -> int:
    """Peak traced memory of starting a side x side job and stopping after 50 tasks."""
    values = ", ".join(str(i) for i in range(side))
    manifest = load(tmp_path, f"""
        version: 1
        models: [{FAST}]
        prompts: [{{template: "{{a}} and {{b}}", vars: {{a: [{values}], b: [{values}]}}}}]
        limits: {{concurrency: 8}}
    """)  # fmt: skip
    async with running_emulator(EmulatorConfig(time_scale=0, image_bytes="small")) as emulator:
        provider = ProviderConfig(kind="emulator", base_url=emulator.base_url)
        manifest = dataclasses.replace(manifest, provider=provider)
        out = tmp_path / f"run{side}"
        # The emulator's one-off encode of its base picture (~10 MB of scratch, in this process)
        # is not what is measured here: do it before tracing starts.
        images.base_png(1024, 1024, image_target_bytes("small", 1024, 1024))
        # Nor is the PNG check's one-call inflate: a 3 MB buffer in each check thread, up to 4
        # at once as they happen to meet; the stepped inflate it falls back to reuses 256 KiB.
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(pngcheck, "deflate", None)
            tracemalloc.start()
            try:
                with anyio.CancelScope() as scope:
                    await run_job(manifest, RunOptions(out=out), _CancelAfter(50, scope))
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    assert scope.cancelled_caught and emulator.stats.generation_requests < 200
    return peak


async def test_a_million_task_job_starts_without_materialising_it(tmp_path: Path) -> None:
    await _peak_memory_of_a_start(tmp_path, 32)  # warms the emulator's PNG cache
    small = await _peak_memory_of_a_start(tmp_path, 32)
    million = await _peak_memory_of_a_start(tmp_path, 1000)
    # A million tasks start in what a thousand take (9.5-11.5 MB both here: buffers of the 1 MiB
    # download pieces, the report); a list of a million Tasks alone would take hundreds of MB.
    assert million < small + 4_000_000
    assert million < 20_000_000


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/x.png", "data:image/png;base64,AA", "//host/x"]
)
async def test_only_http_image_urls_are_fetched(url: str) -> None:
    from batchgen.errors import DownloadError
    from batchgen.providers.http import fetch_image, new_session

    async with new_session(request_timeout_s=5) as session:
        with pytest.raises(DownloadError, match="not an http") as caught:
            async with fetch_image(session, url):
                pass
    assert caught.value.retryable is False


async def test_an_api_redirect_is_not_followed_with_the_key(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    image_host: tuple[TestServer, list[dict[str, str]]],
) -> None:
    other, seen_elsewhere = image_host

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(str(other.make_url("/img/steal.png")))

    app = web.Application()
    app.router.add_post("/v1/images/generations", moved)
    monkeypatch.setenv("SECRET_KEY_ENV", KEY)
    server = TestServer(app, host="127.0.0.1")
    async with server:
        manifest = load(tmp_path, f"""
            version: 1
            provider: {aimlapi_at(server)}
            models: [{FAST}]
            {many_prompts(2)}
        """)  # fmt: skip
        job = await run_job(manifest, RunOptions(out=tmp_path / "run"))
    assert job.result.failed == 2 and seen_elsewhere == []
    assert job.summary.errors.failed_tasks_by_kind == {"rejected": 2}
