"""One task from request to whole files on disk: retries, backoff, fallback models, downloads."""

from __future__ import annotations

import posixpath
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import anyio

from . import pricing, retry
from .budget import Budget
from .errors import (
    BatchgenError,
    BudgetExceeded,
    DownloadError,
    ModelRetired,
    ProviderError,
    ProviderTimeout,
    RateLimited,
)
from .expand import image_path
from .limits import Limiter
from .models import Generation, ImageRef, Outcome, SavedImage, Task, Timing
from .providers.base import Provider
from .sink import IMAGES_DIR, Sink

AttemptFailed = Callable[[Task, str, int, BatchgenError], None]


class Abandoned(Exception):
    """The run is stopping; this task was dropped before its request went out."""


@dataclass(frozen=True, slots=True)
class RenderSettings:
    name: str
    filename: str
    max_attempts: int
    request_timeout_s: float
    fallback: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Tally:
    """What one task has used so far, across attempts."""

    attempts: int = 0
    wait_s: float = 0.0
    request_s: float = 0.0
    download_s: float = 0.0
    cost_usd: float = 0.0
    images: list[SavedImage] = field(default_factory=list)


class Renderer:
    def __init__(
        self,
        *,
        provider: Provider,
        limiter: Limiter,
        sink: Sink,
        budget: Budget,
        settings: RenderSettings,
        attempt_failed: AttemptFailed,
        stopping: anyio.Event,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._provider = provider
        self._limiter = limiter
        self._sink = sink
        self._budget = budget
        self._settings = settings
        self._attempt_failed = attempt_failed
        self._stopping = stopping
        self._rand = rand
        self._retired: set[str] = set()
        self._waiting: set[anyio.CancelScope] = set()

    async def render(self, task: Task) -> Outcome:
        """Render `task`; Abandoned, BudgetExceeded, SinkError or a ProviderError that
        `stops_run` (bad key, quota) stop the run."""
        tally, started, started_at = _Tally(), time.monotonic(), time.time()
        error: BatchgenError = ModelRetired("every model in the fallback chain is retired")
        for model in self._chain(task.model):
            for attempt in range(1, self._settings.max_attempts + 1):
                tally.attempts += 1
                try:
                    generation = await self._request(task, model, tally)
                except ProviderError as exc:
                    error = exc
                    if not await self._after_failure(task, model, attempt, exc, tally):
                        break
                    continue
                try:
                    await self._save_all(task, generation, tally)
                except DownloadError as exc:
                    return _outcome(task, tally, started, started_at, model, exc)
                return _outcome(task, tally, started, started_at, model, None)
            if not (retry.is_retryable(error) or isinstance(error, ModelRetired)):
                break  # rejected: a fallback model would be asked the same thing
        return _outcome(task, tally, started, started_at, None, error)

    def _chain(self, model: str) -> Iterator[str]:
        seen: set[str] = set()
        current: str | None = model
        while current is not None and current not in seen:
            seen.add(current)
            if current not in self._retired:
                yield current
            current = self._settings.fallback.get(current)

    async def _request(self, task: Task, model: str, tally: _Tally) -> Generation:
        worst = pricing.worst_case_usd(
            model, task.num_images, kind=self._provider.kind, resolution=task.resolution
        )
        if not self._budget.reserve(worst):
            raise BudgetExceeded(f"the next request could take spend past ${self._budget.max_usd}")
        cost = 0.0
        try:
            generation, cost = await self._send(task, model, tally)
        except ProviderError as exc:
            cost = exc.billed_usd
            raise
        finally:
            self._budget.settle(worst, cost)
            tally.cost_usd += cost
        return generation

    async def _send(self, task: Task, model: str, tally: _Tally) -> tuple[Generation, float]:
        with anyio.CancelScope() as waiting:
            self._waiting.add(waiting)  # stop_waiting() cancels tasks still queued for a slot
            try:
                async with self._limiter.slot() as waited:
                    self._waiting.discard(waiting)
                    tally.wait_s += waited
                    if self._stopping.is_set():
                        raise Abandoned
                    generation = await self._timed_generate(task, model, tally)
                    if generation.hold_s:  # before the slot frees: no start slips in between
                        self._limiter.cool_down(generation.hold_s)
            finally:
                self._waiting.discard(waiting)
        if waiting.cancelled_caught:
            raise Abandoned
        cost = pricing.cost_usd(
            model,
            len(generation.images),
            generation.usage,
            kind=self._provider.kind,
            resolution=task.resolution,
        )
        return generation, cost

    async def _timed_generate(self, task: Task, model: str, tally: _Tally) -> Generation:
        started = time.monotonic()
        try:
            with anyio.fail_after(self._settings.request_timeout_s):
                return await self._provider.generate(task, model=model)
        except TimeoutError as exc:
            raise ProviderTimeout(f"no answer in {self._settings.request_timeout_s}s") from exc
        finally:
            tally.request_s = time.monotonic() - started

    def stop_waiting(self) -> None:
        """Drop every task still waiting for a slot: the run is stopping."""
        for scope in list(self._waiting):
            scope.cancel()

    async def _after_failure(
        self, task: Task, model: str, attempt: int, error: ProviderError, tally: _Tally
    ) -> bool:
        """Record the failure; wait and return True when the same model should try again."""
        self._attempt_failed(task, model, tally.attempts, error)
        if error.stops_run:
            raise error
        if isinstance(error, ModelRetired):
            self._retired.add(model)
            return False
        if not error.retryable or attempt >= self._settings.max_attempts:
            return False
        delay = retry.delay_s(error, attempt, rand=self._rand)
        if isinstance(error, RateLimited) and error.retry_after is not None:
            self._limiter.cool_down(delay)
        await self._pause(delay)
        return True

    async def _pause(self, seconds: float) -> None:
        with anyio.move_on_after(seconds):
            await self._stopping.wait()
        if self._stopping.is_set():
            raise Abandoned

    async def _save_all(self, task: Task, generation: Generation, tally: _Tally) -> None:
        started = time.monotonic()
        try:
            for ref in generation.images:
                tally.images.append(await self._save(task, generation.model, ref, tally))
        finally:
            tally.download_s += time.monotonic() - started

    async def _save(self, task: Task, model: str, ref: ImageRef, tally: _Tally) -> SavedImage:
        """Fetch one image, retrying the download (never the paid-for generation)."""
        for attempt in range(1, self._settings.max_attempts + 1):
            try:
                async with self._provider.download(ref) as download:
                    return await self._sink.write(
                        download.chunks,
                        part_name=f"{task.id}-{ref.index}",
                        path_for=lambda ext: self._path(task, ref.index, ext),
                        index=ref.index,
                        expected_bytes=download.expected_bytes,
                    )
            except DownloadError as exc:  # noqa: PERF203 - a retry loop, not a hot loop
                self._attempt_failed(task, model, tally.attempts, exc)
                if attempt >= self._settings.max_attempts:
                    raise
                await anyio.sleep(retry.backoff_s(attempt, rand=self._rand, cap=10.0))
        raise AssertionError("unreachable")

    def _path(self, task: Task, index: int, ext: str) -> str:
        inside = image_path(
            self._settings.filename, task, index=index, ext=ext, name=self._settings.name
        )
        return posixpath.join(IMAGES_DIR, inside)


def _outcome(
    task: Task,
    tally: _Tally,
    started: float,
    started_at: float,
    model_used: str | None,
    error: BatchgenError | None,
) -> Outcome:
    return Outcome(
        task=task,
        status="failed" if error else "done",
        attempts=tally.attempts,
        timing=Timing(
            wait_s=tally.wait_s,
            request_s=tally.request_s,
            download_s=tally.download_s,
            total_s=time.monotonic() - started,
        ),
        cost_usd=tally.cost_usd,
        model_used=model_used,
        images=tuple(tally.images),
        error_kind=getattr(error, "kind", None) if error else None,
        error_message=str(error) if error else None,
        started_at=started_at,
        finished_at=time.time(),
    )
