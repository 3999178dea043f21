"""API answers that would take the memory of a run: a gzip bomb, an endless body."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from batchgen.errors import ServerError
from batchgen.providers.http import call, new_session

pytestmark = pytest.mark.anyio
CAP = 1024 * 1024


def gzip_of_zeros(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1024 * 1024)
    return b"".join(packer.compress(block) for _ in range(size // len(block))) + packer.flush()


@pytest.fixture
async def hostile() -> AsyncIterator[TestServer]:
    bomb = gzip_of_zeros(64 * 1024 * 1024)  # ~64 KB on the wire, 64 MiB unpacked

    async def gzip_bomb(request: web.Request) -> web.Response:
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        return web.Response(body=bomb, headers=headers)

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        block = b" " * (256 * 1024)
        try:
            for _ in range(4096):  # 1 GiB, unless the client hangs up first
                await response.write(block)
        except (ConnectionError, RuntimeError):
            pass
        return response

    app = web.Application()
    app.router.add_post("/bomb", gzip_bomb)
    app.router.add_post("/endless", endless)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@pytest.mark.parametrize("route", ["/bomb", "/endless"])
async def test_an_answer_past_the_cap_fails_the_request_retryably(
    hostile: TestServer, route: str
) -> None:
    session = new_session(request_timeout_s=30)
    async with session:
        with pytest.raises(ServerError, match="over 1048576 bytes") as caught:
            await call(session, "POST", str(hostile.make_url(route)), headers={}, max_bytes=CAP)
    assert caught.value.retryable
