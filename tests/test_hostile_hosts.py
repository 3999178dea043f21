"""Image links from the provider may not reach private, loopback or link-local hosts, unless the
API itself is on one (the emulator) or the manifest allows it."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from PIL import Image

from batchgen.errors import DownloadError
from batchgen.providers.hosts import HostGuard, is_public
from batchgen.providers.http import fetch_image, new_session
from tests.helpers import FAST, load

pytestmark = pytest.mark.anyio
PUBLIC_API = "https://api.example.com"  # never contacted: only its host is compared


@pytest.fixture
async def image_host() -> AsyncIterator[TestServer]:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="PNG")

    async def image(request: web.Request) -> web.Response:
        return web.Response(body=out.getvalue(), content_type="image/png")

    async def hop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/img")

    app = web.Application()
    app.router.add_get("/img", image)
    app.router.add_get("/hop", hop)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


async def fetched(guard: HostGuard, url: str) -> int:
    async with (
        new_session(request_timeout_s=10, guard=guard) as session,
        fetch_image(session, url) as download,
    ):
        return sum([len(chunk) async for chunk in download.chunks])


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_public_api_cannot_send_us_to_loopback(image_host: TestServer, host: str) -> None:
    url = f"http://{host}:{image_host.port}/hop"
    with pytest.raises(DownloadError, match="private, loopback or link-local") as caught:
        await fetched(HostGuard(api_url=PUBLIC_API), url)
    assert not caught.value.retryable


async def test_the_resolver_drops_private_addresses_for_image_hosts() -> None:
    guard = HostGuard(api_url=PUBLIC_API)
    with pytest.raises(OSError, match="only private addresses"):
        await guard.resolve("localhost", 80)
    await guard.close()


@pytest.mark.parametrize(
    ("api_url", "allow"),
    [(PUBLIC_API, True), ("http://127.0.0.1:8000", False), ("http://localhost:8000", False)],
)
async def test_allowed_when_the_api_is_private_or_the_manifest_says(
    image_host: TestServer, api_url: str, allow: bool
) -> None:
    guard = HostGuard(api_url=api_url, allow_private=allow)
    assert await fetched(guard, f"http://127.0.0.1:{image_host.port}/hop") > 0


def test_what_counts_as_public() -> None:
    assert is_public("93.184.216.34") and is_public("2606:2800:220:1:248:1893:25c8:1946")
    for private in ("10.0.0.1", "192.168.1.1", "172.16.0.1", "169.254.169.254", "::1", "fe80::1"):
        assert not is_public(private), private


def test_the_manifest_key(tmp_path: Path) -> None:
    body = f"""
        version: 1
        provider: {{kind: aimlapi, allow_private_image_hosts: true}}
        models: [{FAST}]
        prompts: [a]
    """
    assert load(tmp_path, body).provider.allow_private_image_hosts is True
