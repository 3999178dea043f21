"""The emulator's aiohttp application: live counters, admission limits and the routes."""

from __future__ import annotations

import asyncio
import base64
import hmac
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields

from aiohttp import web
from aiohttp.typedefs import Handler

from batchgen.emulator import images
from batchgen.emulator.faults import (
    FaultDraws,
    StartWindow,
    drop_connection,
    error_response,
    fault_response,
)
from batchgen.emulator.profiles import (
    ASPECT_SIZES,
    MAX_SEED,
    BodyValidationError,
    EmulatorConfig,
    GenerationRequest,
    aimlapi_body,
    fal_body,
    image_target_bytes,
    parse_request,
    usd_for_credits,
)

GENERATIONS_PATH = "/v1/images/generations"
FILES_PATH = "/files/{token}.png"
STATS_PATH = "/_emulator/stats"
START_TIMES_KEPT = 200_000
SLOW_CHUNK_BYTES = 16 * 1024
SLOW_CHUNK_DELAY_S = 0.05  # ~5 s for a 1.5 MB file at time_scale 1
TRUNCATE_FRACTION = 0.6  # share of the file sent before a "truncate" fault cuts the connection
UNAUTHORIZED_MESSAGE = "This request requires a valid API key (Authorization: Bearer <key>)."

_ALLOWED_SIZES = frozenset(ASPECT_SIZES.values())


class _NoResponse(web.Response):
    """Returned after a "reset" fault closed the socket: aiohttp fails to send it and moves on."""


@dataclass(slots=True, eq=False)
class EmulatorStats:
    """Live counters; tests and benchmarks read them to check the client's own limits."""

    requests_total: int = 0  # every request but those for these stats
    generation_requests: int = 0
    responses: Counter[int] = field(default_factory=Counter)  # by status code
    images_generated: int = 0
    credits_billed: int = 0
    in_flight: int = 0  # admitted generation requests not yet answered
    max_in_flight: int = 0
    downloads: int = 0
    bytes_served: int = 0
    faults_injected: Counter[str] = field(default_factory=Counter)
    prompts_served: Counter[str] = field(default_factory=Counter)  # only with count_prompts
    # Clock readings of admitted generation requests; bounded so a long soak holds little memory.
    start_times: deque[float] = field(default_factory=lambda: deque(maxlen=START_TIMES_KEPT))

    def max_starts_in_window(self, seconds: float) -> int:
        """The most admitted requests whose start times fit in any window of this length."""
        if not seconds > 0:
            raise ValueError(f"seconds must be > 0, got {seconds!r}")
        times, best, first = list(self.start_times), 0, 0  # a deque indexes in O(n)
        for last, now in enumerate(times):
            while now - times[first] >= seconds:
                first += 1
            best = max(best, last - first + 1)
        return best

    def snapshot(self) -> dict[str, object]:
        """A JSON-able copy of the counters (start_times summarised, not listed)."""
        counts: dict[str, object] = {
            item.name: value
            for item in fields(self)
            if isinstance(value := getattr(self, item.name), int)
        }
        return counts | {
            "responses": {str(status): n for status, n in sorted(self.responses.items())},
            "faults_injected": dict(sorted(self.faults_injected.items())),
            "prompts_served": dict(self.prompts_served),
            "usd_billed": usd_for_credits(self.credits_billed),
            "starts_recorded": len(self.start_times),
            "max_starts_per_minute": self.max_starts_in_window(60.0),
        }


class _State:
    """Per-application state; everything mutable lives here, reached through the app."""

    def __init__(self, config: EmulatorConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self.stats = EmulatorStats()
        self.latency_rng = random.Random(config.seed)
        self.faults = FaultDraws(config.faults, config.seed)
        self.window = StartWindow(config.rpm) if config.rpm is not None else None
        self.generations: set[asyncio.Task[object]] = set()

    def authorized(self, request: web.Request) -> bool:
        if self.config.api_key is None:
            return True
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.config.api_key}".encode())

    def admit(self) -> int | None:
        """Take a start and a concurrency slot; or return the Retry-After seconds for a 429."""
        now = self.clock()
        if self.window is not None and (wait := self.window.retry_after(now)) is not None:
            return wait
        limit = self.config.max_concurrency
        if limit is not None and self.stats.in_flight >= limit:
            return 1
        if self.window is not None:
            self.window.record(now)
        stats = self.stats
        stats.start_times.append(now)
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        return None

    def release(self) -> None:
        self.stats.in_flight -= 1

    def inject(self, fault: str) -> None:
        self.stats.faults_injected[fault] += 1

    async def sleep(self, seconds: float) -> None:
        # time_scale 0 must not even yield: tests and floods then run with no timers at all.
        if seconds * self.config.time_scale > 0:
            await asyncio.sleep(seconds * self.config.time_scale)


_STATE = web.AppKey("batchgen_emulator_state", _State)


def create_app(
    config: EmulatorConfig, *, clock: Callable[[], float] = time.monotonic
) -> web.Application:
    """The emulator as an aiohttp application; `clock` times the rpm window and start_times."""
    app = web.Application(middlewares=[_count_responses])
    app[_STATE] = _State(config, clock)
    app.router.add_post(GENERATIONS_PATH, _serve_generation)
    app.router.add_get(FILES_PATH, _serve_file)
    app.router.add_get(STATS_PATH, _serve_stats)
    app.on_shutdown.append(_cancel_generations)
    return app


async def _cancel_generations(app: web.Application) -> None:
    # A client that gave up leaves its handler sleeping through the latency; end it with the app.
    tasks = list(app[_STATE].generations)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def stats_of(app: web.Application) -> EmulatorStats:
    """The live counters of an application made by create_app."""
    return app[_STATE].stats


@web.middleware
async def _count_responses(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path == STATS_PATH:
        return await handler(request)
    stats = request.app[_STATE].stats
    stats.requests_total += 1
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        stats.responses[exc.status] += 1
        raise
    if not isinstance(response, _NoResponse):
        stats.responses[response.status] += 1
    return response


async def _serve_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[_STATE].stats.snapshot())


async def _serve_generation(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    state.stats.generation_requests += 1
    if not state.authorized(request):
        return error_response(request, 401, UNAUTHORIZED_MESSAGE)
    retry_after = state.admit()
    if retry_after is not None:
        return error_response(request, 429, "Too Many Requests", {"Retry-After": str(retry_after)})
    task = asyncio.current_task()
    if task is not None:  # always so: aiohttp runs every handler in a task
        state.generations.add(task)
    try:
        return await _generate(request, state)
    finally:
        state.release()
        state.generations.discard(task)


async def _generate(request: web.Request, state: _State) -> web.StreamResponse:
    try:
        body = await request.json()
    except ValueError:
        return error_response(request, 400, "Body validation error! Malformed JSON body")
    model = body.get("model") if isinstance(body, dict) else None
    if isinstance(model, str) and state.faults.spec.is_retired(model):
        return error_response(request, 404, "Model not found")
    try:
        job = parse_request(body)
    except BodyValidationError as exc:
        return error_response(request, 400, f"Body validation error! {exc}")
    fault = state.faults.generation()
    if fault is not None:
        state.inject(fault)
        if fault != "reset":
            return fault_response(request, fault)
        drop_connection(request)
        return _NoResponse()
    await state.sleep(job.profile.sample_latency(state.latency_rng))
    return web.json_response(await _result_body(request, state, job))


async def _result_body(request: web.Request, state: _State, job: GenerationRequest) -> object:
    """The success body: aimlapi's data/meta shape, or fal's images/seed shape for the preview."""
    width, height = ASPECT_SIZES[job.aspect_ratio]
    target = image_target_bytes(state.config.image_bytes, width, height)
    request_id = uuid.uuid4().hex
    tokens = [
        images.ImageToken(width, height, target, request_id, i, images.prompt_hash(job.prompt))
        for i in range(job.num_images)
    ]
    base = str(request.url.origin())
    urls = [f"{base}/files/{token.encode()}.png" for token in tokens]
    state.stats.images_generated += job.num_images
    state.stats.credits_billed += job.credits
    if state.config.count_prompts:
        state.stats.prompts_served[job.prompt] += 1
    if job.profile.fal_shape:
        sizes = [(await images.load_png(token)).size for token in tokens]
        seed = job.seed if job.seed is not None else state.latency_rng.randrange(MAX_SEED + 1)
        return fal_body(urls, sizes, seed)
    if job.as_url:
        return aimlapi_body(job, urls=urls)
    files = [await images.load_png(token) for token in tokens]
    return aimlapi_body(job, blobs=[base64.b64encode(png.to_bytes()).decode() for png in files])


async def _serve_file(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    token = images.decode_token(request.match_info["token"], _ALLOWED_SIZES)
    if token is None:
        return error_response(request, 404, "File not found")
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
    state: _State,
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
