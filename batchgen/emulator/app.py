"""The emulator's aiohttp application: every dialect's routes, image files and live counters."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from batchgen.emulator import (
    aimlapi,
    fal,
    google,
    google_batch,
    images,
    lineup,
    openai,
    openai_batch,
)
from batchgen.emulator.config import EmulatorConfig
from batchgen.emulator.faults import NoResponse, drop_connection, error_response
from batchgen.emulator.profiles import ASPECT_SIZES
from batchgen.emulator.state import STATE, EmulatorStats, State

__all__ = ["EmulatorStats", "create_app", "file_link_here", "stats_of"]

FILES_PATH = "/files/{token}.png"
_FILE_LINK = re.compile(r"/files/[^/]+\.png")
STATS_PATH = "/_emulator/stats"
LIMITS_PATH = "/_emulator/limits"  # PUT {"max_concurrency": n | null}: capacity changes live
# PUT {"status": 503 | 410 | ... | null}: every file download answers that status until it is
# set back to null (a CDN outage, or links that expired); generations go on as before
FILES_PATH_CONTROL = "/_emulator/files"
SLOW_CHUNK_BYTES = 16 * 1024
BODY_MAX_BYTES = 256 * 1024 * 1024
SLOW_CHUNK_DELAY_S = 0.05  # ~5 s for a 1.5 MB file at time_scale 1
TRUNCATE_FRACTION = 0.6  # share of the file sent before a "truncate" fault cuts the connection
# Each wire format, routed by path; aimlapi owns /v1/images/generations, so the OpenAI dialect
# lives under /openai/v1 and fal's queue under /fal; Gemini's batch route goes before its live
# one (the same path prefix).
DIALECTS = (aimlapi, google_batch, google, openai, fal, openai_batch)

_ALLOWED_SIZES = frozenset(ASPECT_SIZES.values()) | lineup.all_sizes()


def create_app(
    config: EmulatorConfig, *, clock: Callable[[], float] = time.monotonic
) -> web.Application:
    """The emulator as an aiohttp application; `clock` times the rpm window and start_times."""
    # batch input files may be up to 200 MB (aiohttp's default body cap is 1 MB)
    app = web.Application(middlewares=[_count_responses], client_max_size=BODY_MAX_BYTES)
    app[STATE] = State(config, clock)
    for dialect in DIALECTS:
        dialect.add_routes(app)
    app.router.add_get(FILES_PATH, _serve_file)
    app.router.add_get(STATS_PATH, _serve_stats)
    app.router.add_put(LIMITS_PATH, _set_limits)
    app.router.add_put(FILES_PATH_CONTROL, _set_files)
    app.on_shutdown.append(_cancel_generations)
    return app


async def _cancel_generations(app: web.Application) -> None:
    # A client that gave up leaves its handler sleeping through the latency; end it with the app.
    tasks = list(app[STATE].generations)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def file_link_here(url: str, base_url: str) -> str:
    """`url` as the emulator at `base_url` serves it, when it is a file link another emulator
    on the same host gave (a killed run's built-in emulator: its port died with it); any other
    link as it is. A file is rebuilt from the token in its link, so every emulator serves the
    same bytes for it: a paid answer's images are fetched again, never bought again."""
    link, here = urlsplit(url), urlsplit(base_url)
    if (link.scheme, link.hostname) != (here.scheme, here.hostname):
        return url
    if not _FILE_LINK.fullmatch(link.path):
        return url
    return urlunsplit((here.scheme, here.netloc, link.path, link.query, ""))


def stats_of(app: web.Application) -> EmulatorStats:
    """The live counters of an application made by create_app."""
    return app[STATE].stats


@web.middleware
async def _count_responses(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in (STATS_PATH, LIMITS_PATH, FILES_PATH_CONTROL):
        return await handler(request)
    stats = request.app[STATE].stats
    stats.requests_total += 1
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        stats.responses[exc.status] += 1
        raise
    if not isinstance(response, NoResponse):
        stats.responses[response.status] += 1
    return response


async def _set_limits(request: web.Request) -> web.Response:
    """Benchmarks drop and restore a server's capacity mid-run (the client is not told)."""
    body = await request.json()
    limit = body.get("max_concurrency") if isinstance(body, dict) else None
    if limit is not None and not (isinstance(limit, int) and limit >= 1):
        return web.json_response({"message": "max_concurrency: an int >= 1 or null"}, status=400)
    request.app[STATE].max_concurrency = limit
    return web.json_response({"max_concurrency": limit})


async def _set_files(request: web.Request) -> web.Response:
    """Tests open and close a window in which the file host fails (the client is not told)."""
    body = await request.json()
    status = body.get("status") if isinstance(body, dict) else None
    if status is not None and not (isinstance(status, int) and 400 <= status <= 599):
        return web.json_response({"message": "status: an HTTP error status or null"}, status=400)
    request.app[STATE].files_status = status
    return web.json_response({"status": status})


async def _serve_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].stats.snapshot())


async def _serve_file(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    token = images.decode_token(request.match_info["token"], _ALLOWED_SIZES)
    if token is None:
        return error_response(request, 404, "File not found")
    if state.files_status is not None:
        state.stats.downloads_refused += 1
        return error_response(request, state.files_status, "File host is failing")
    png = await images.load_png(token)
    fault = state.faults.download()
    if fault is not None:
        state.inject(fault)
    response = web.StreamResponse(headers={"Content-Type": "image/png"})
    response.content_length = png.size
    await response.prepare(request)
    state.stats.downloads += 1
    await _stream_png(request, response, state, png, fault)
    return response


async def _stream_png(
    request: web.Request,
    response: web.StreamResponse,
    state: State,
    png: images.PngFile,
    fault: str | None,
) -> None:
    """Send the file; "slow" trickles it, "truncate" stops part-way and closes the socket."""
    slow = fault == "slow"
    remaining = png.size * TRUNCATE_FRACTION if fault == "truncate" else png.size
    chunks = png.chunks(SLOW_CHUNK_BYTES if slow else images.SERVE_CHUNK_BYTES)
    for chunk in chunks:
        piece = chunk[: max(int(remaining), 0)]
        if piece:
            try:
                await response.write(piece)
            except ConnectionResetError:
                return  # the client hung up (a cancelled run): nothing to send it any more
            state.stats.bytes_served += len(piece)
            remaining -= len(piece)
        if len(piece) < len(chunk):
            drop_connection(request)  # Content-Length promised more: the client sees a short body
            return
        if slow:
            await state.sleep(SLOW_CHUNK_DELAY_S)
    await response.write_eof()
