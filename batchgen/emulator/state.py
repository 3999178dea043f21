"""What every emulated API shares: live counters, admission limits, the per-app state, and the
guard each generation request passes (key, start window, concurrency) in its dialect's words.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import random
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from typing import Protocol

from aiohttp import web

from batchgen.emulator import images
from batchgen.emulator.config import EmulatorConfig
from batchgen.emulator.faults import FaultDraws, StartWindow
from batchgen.emulator.profiles import image_target_bytes, usd_for_credits

START_TIMES_KEPT = 200_000
CREDITS_PER_USD = 2_000_000  # every dialect's spend is counted in aimlapi credits


@dataclass(slots=True, eq=False)
class EmulatorStats:
    """Live counters; tests and benchmarks read them to check the client's own limits."""

    requests_total: int = 0  # every request but those for these stats
    generation_requests: int = 0  # generation calls of every dialect (fal: submissions)
    responses: Counter[int] = field(default_factory=Counter)  # by status code
    images_generated: int = 0
    credits_billed: int = 0  # all dialects, at $1 = 2,000,000 credits
    in_flight: int = 0  # admitted generation requests not yet answered (fal: not yet done)
    max_in_flight: int = 0
    downloads: int = 0
    downloads_refused: int = 0  # while PUT /_emulator/files set an error status
    bytes_served: int = 0
    status_polls: int = 0  # fal status requests
    cancelled: int = 0  # fal requests cancelled by the client before they were done
    faults_injected: Counter[str] = field(default_factory=Counter)
    prompts_served: Counter[str] = field(default_factory=Counter)  # only with count_prompts
    batches_created: int = 0  # batch jobs of either batch API
    batch_submitted: Counter[str] = field(default_factory=Counter)  # by custom_id / key
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
            "batch_submitted": dict(self.batch_submitted),
            "batch_submitted_max": max(self.batch_submitted.values(), default=0),
            "usd_billed": usd_for_credits(self.credits_billed),
            "starts_recorded": len(self.start_times),
            "max_starts_per_minute": self.max_starts_in_window(60.0),
        }


class State:
    """Per-application state; everything mutable lives here, reached through the app."""

    def __init__(self, config: EmulatorConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self.stats = EmulatorStats()
        self.latency_rng = random.Random(config.seed)
        self.faults = FaultDraws(config.faults, config.seed)
        self.window = (
            StartWindow(config.rpm, burst=config.burst) if config.rpm is not None else None
        )
        self.generations: set[asyncio.Task[object]] = set()
        self.max_concurrency = config.max_concurrency  # may change while running
        self.files_status: int | None = None  # set: every file download fails with it

    def key_is(self, given: str | None, expected_form: str) -> bool:
        """Whether `given` is the configured key written as `expected_form` ("Bearer {}")."""
        if self.config.api_key is None:
            return True
        expected = expected_form.format(self.config.api_key)
        return hmac.compare_digest((given or "").encode(), expected.encode())

    def admit(self) -> int | None:
        """Take a start and a concurrency slot; or return the Retry-After seconds for a 429."""
        now = self.clock()
        if self.window is not None and (wait := self.window.retry_after(now)) is not None:
            return wait
        limit = self.max_concurrency
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

    def bill(self, images_made: int, usd: float, prompt: str) -> None:
        self.stats.images_generated += images_made
        self.stats.credits_billed += round(usd * CREDITS_PER_USD)
        if self.config.count_prompts:
            self.stats.prompts_served[prompt] += 1

    def scaled(self, seconds: float) -> float:
        return seconds * self.config.time_scale

    async def sleep(self, seconds: float) -> None:
        # time_scale 0 must not even yield: tests and floods then run with no timers at all.
        if self.scaled(seconds) > 0:
            await asyncio.sleep(self.scaled(seconds))

    def tokens(
        self, size: tuple[int, int], count: int, prompt: str, *, seed: int | None = None
    ) -> list[images.ImageToken]:
        """One file token per image of an answer (the file is rebuilt from it when fetched;
        the prompt's first words and the seed are drawn into it)."""
        target = image_target_bytes(self.config.image_bytes, *size)
        return images.make_tokens(size, target, uuid.uuid4().hex, prompt, count, seed)


STATE = web.AppKey("batchgen_emulator_state", State)


def state_of(request: web.Request) -> State:
    return request.app[STATE]


def file_urls(request: web.Request, tokens: list[images.ImageToken]) -> list[str]:
    base = str(request.url.origin())
    return [f"{base}/files/{token.encode()}.png" for token in tokens]


async def inline_images(tokens: list[images.ImageToken]) -> list[str]:
    return [base64.b64encode((await images.load_png(t)).to_bytes()).decode() for t in tokens]


class Dialect(Protocol):
    """How one emulated API refuses a request, in its own words and shapes."""

    def authorized(self, request: web.Request, state: State) -> bool: ...

    def error(self, request: web.Request, status: int, message: str) -> web.Response: ...

    def rate_limited(self, request: web.Request, wait_s: float) -> web.Response: ...


async def guarded(
    request: web.Request,
    dialect: Dialect,
    handle: Callable[[web.Request, State], Awaitable[web.StreamResponse]],
    *,
    release: bool = True,
) -> web.StreamResponse:
    """Count, check the key, admit (start window, concurrency), then handle; the slot is freed
    when the answer is made, unless `release` is False: then the handler owns it (fal frees it
    when the queued job ends)."""
    state = state_of(request)
    state.stats.generation_requests += 1
    if not dialect.authorized(request, state):
        return dialect.error(request, 401, "API key not valid. Please pass a valid API key.")
    wait = state.admit()
    if wait is not None:
        return dialect.rate_limited(request, wait)
    task = asyncio.current_task()
    if task is not None:  # always so: aiohttp runs every handler in a task
        state.generations.add(task)
    try:
        return await handle(request, state)
    finally:
        if release:
            state.release()
        state.generations.discard(task)
