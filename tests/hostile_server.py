"""A hostile API on loopback, run in its own thread so a subprocess `batchgen run` can use it.

It answers by the prompt's first word, so one manifest walks every hostile path."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from urllib.parse import quote

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextmanager
def serving(app: web.Application) -> Iterator[str]:
    """Run `app` on 127.0.0.1 (port 0) in a background thread; yields its base URL."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    started = threading.Event()
    port: list[int] = []

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port.append(runner.addresses[0][1])
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield f"http://127.0.0.1:{port[0]}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def echo_app(key: str) -> web.Application:
    """Echo `key` in every place a server can: headers, JSON and non-JSON bodies of every status,
    image URLs (http, ftp, redirects), with the key placed to straddle the usual message cuts."""
    bearer = f"Bearer {key}"
    dump = (
        f"Authorization: {bearer}\nX-Key: {quote(key, safe='')}\n"
        f"Basic: {base64.b64encode(bearer.encode()).decode()}\nplain {key}"
    )

    def padded(offset: int) -> str:
        return "x" * (offset - len("Authorization: Bearer ") - len(key) // 2) + " " + dump

    async def generations(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        word = str(body.get("prompt", "")).split()[0]
        base = f"http://{request.host}"
        headers = {"X-Echo": bearer, "Retry-After": key}
        answers: dict[str, web.StreamResponse] = {
            "nonjson": web.Response(text=padded(200), headers=headers),
            "nonjson300": web.Response(text=padded(300), headers=headers),
            "err500": web.Response(status=500, text=padded(300), headers=headers),
            "err400": web.json_response({"message": padded(300)}, status=400, headers=headers),
            "err429": web.json_response({"error": dump}, status=429, headers=headers),
            "ftp": web.json_response({"data": [{"url": f"ftp://{key}@example/{quote(key)}"}]}),
            "longurl": web.json_response({"data": [{"url": "gopher://" + "y" * 60 + key}]}),
            "redirect": web.json_response({"data": [{"url": f"{base}/img/redirect"}]}),
            "textimage": web.json_response({"data": [{"url": f"{base}/img/text"}]}),
            "notimage": web.json_response({"data": [{"url": f"{base}/img/notimage"}]}),
        }
        return answers.get(word) or web.json_response({"detail": dump}, status=422)

    async def image(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name == "redirect":  # to a closed port, the key in the path: a connection error
            raise web.HTTPFound(f"http://127.0.0.1:9/{quote(key, safe='')}/{key}")
        if name == "text":
            return web.Response(text=dump, headers={"X-Echo": bearer})
        return web.Response(body=(padded(300)).encode(), content_type="image/png")

    app = web.Application()
    app.router.add_post("/v1/images/generations", generations)
    app.router.add_get("/img/{name}", image)
    return app


def forms(key: str) -> dict[str, str]:
    """What must never appear: the key, its encodings, and each half."""
    bearer_b64 = base64.b64encode(f"Bearer {key}".encode()).decode()
    half = len(key) // 2
    return {
        "key": key,
        "url-encoded": quote(key, safe=""),
        "json-escaped": json.dumps(key)[1:-1],
        "base64(Bearer key)": bearer_b64[12:-4],
        "first half": key[:half],
        "second half": key[half:],
    }
