"""One task from request to whole files on disk: retries, backoff, fallback models, resume."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import anyio

from batchgen import pricing
from batchgen.errors import (
    BatchgenError,
    BudgetExceeded,
    DownloadError,
    ModelRetired,
    ProviderError,
    ProviderTimeout,
    RateLimited,
)
from batchgen.models import Generation, Outcome, SavedImage, Task, Timing
from batchgen.providers.base import Provider
from batchgen.retry import Decision, GiveUp, NextModel, Retry, RetryPolicy, StopRun, decide
from batchgen.run.budget import Budget
from batchgen.run.limits import Limiter
from batchgen.run.runlog import RunLog
from batchgen.run.saving import ImageSaver
from batchgen.store.journal import PendingGeneration

BREAKER_S = 60.0  # a model that just failed a task outright is skipped for this long


class Abandoned(Exception):
    """The run is stopping; this task was dropped before its request went out."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderSettings:
    request_timeout_s: float
    fallback: Mapping[str, str] = field(default_factory=dict)
    policy: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(slots=True)
class _Tally:
    """What one task has used so far, across attempts and models."""

    started: float = field(default_factory=time.monotonic)
    started_at: float = field(default_factory=time.time)
    attempts: int = 0
    wait_s: float = 0.0
    request_s: float = 0.0
    download_s: float = 0.0
    ttfb_s: float | None = None  # of the last request, as the provider measured it
    body_s: float | None = None
    cost_usd: float = 0.0
    images: list[SavedImage] = field(default_factory=list)


class Renderer:
    def __init__(
        self,
        *,
        provider: Provider,
        limiter: Limiter,
        saver: ImageSaver,
        log: RunLog,
        budget: Budget,
        settings: RenderSettings,
        stopping: anyio.Event,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._provider = provider
        self._limiter = limiter
        self._saver = saver
        self._log = log
        self._budget = budget
        self._settings = settings
        self._stopping = stopping
        self._rand = rand
        self._retired: set[str] = set()
        self._broken_until: dict[str, float] = {}
        self._waiting: set[anyio.CancelScope] = set()

    async def render(self, task: Task, pending: PendingGeneration | None = None) -> Outcome:
        """Render `task`, trying each model of its fallback chain in turn. Abandoned,
        BudgetExceeded, SinkError, JournalError or a ProviderError that `stops_run` (bad key,
        quota) end the run instead."""
        tally = _Tally()
        resumed = await self._resume(task, pending, tally) if pending else None
        if resumed is not None:
            return resumed
        error: BatchgenError | None = None
        for model in self._chain(task.model):
            result = await self._render_with(task, model, tally)
            if isinstance(result, Outcome):
                return result
            error, decision = result
            if isinstance(decision, GiveUp):
                break
            self._broken_until[model] = time.monotonic() + BREAKER_S
            if decision.retired:
                self._retired.add(model)
        error = error or ModelRetired("every model in the fallback chain is retired")
        return _outcome(task, tally, None, error)

    async def _render_with(
        self, task: Task, model: str, tally: _Tally
    ) -> Outcome | tuple[ProviderError, NextModel | GiveUp]:
        """Ask one model until it answers, or until the decision is to move on."""
        attempt = 0
        while True:
            attempt += 1
            tally.attempts += 1
            try:
                generation = await self._request(task, model, tally)
            except ProviderError as exc:
                self._log.attempt_failed(task, model, tally.attempts, exc)
                match self._decide(exc, attempt):
                    case Retry() as again:
                        await self._wait(again)
                    case StopRun():
                        raise
                    case NextModel() | GiveUp() as move_on:
                        return exc, move_on
            else:
                return await self._finish(task, model, generation, tally)

    def _decide(self, error: ProviderError, attempt: int) -> Decision:
        policy = self._settings.policy
        return decide(error, attempt, policy, rand=self._rand, adaptive=self._limiter.adaptive)

    async def _wait(self, decision: Retry) -> None:
        if decision.hold_all:
            self._limiter.cool_down(decision.after_s)
        await self._pause(decision.after_s)

    async def _resume(
        self, task: Task, pending: PendingGeneration, tally: _Tally
    ) -> Outcome | None:
        """A killed run paid for this task's images: fetch them again, do not pay again."""
        tally.cost_usd += pending.cost_usd
        if not pending.refs:
            return None  # inline images died with the process; the request is made again
        started = time.monotonic()
        try:
            await self._saver.save_all(
                task, pending.model, pending.refs, tally.images, resuming=True
            )
        except DownloadError:
            tally.images.clear()
            return None  # the links have expired: render again
        finally:
            tally.download_s += time.monotonic() - started
        return _outcome(task, tally, pending.model, None)

    async def _finish(
        self, task: Task, model: str, generation: Generation, tally: _Tally
    ) -> Outcome:
        self._log.paid(task, model=model, refs=generation.images, cost_usd=tally.cost_usd)
        started = time.monotonic()
        try:
            await self._saver.save_all(task, model, generation.images, tally.images)
        except DownloadError as exc:
            return _outcome(task, tally, model, exc)
        finally:
            tally.download_s += time.monotonic() - started
        return _outcome(task, tally, model, None)

    def _chain(self, model: str) -> Iterator[str]:
        """The model, then its fallbacks; a retired model is left out, and one that just
        failed outright is passed over while a fallback stands behind it."""
        chain: list[str] = []
        current: str | None = model
        while current is not None and current not in chain:
            chain.append(current)
            current = self._settings.fallback.get(current)
        live = [m for m in chain if m not in self._retired]
        now = time.monotonic()
        for position, candidate in enumerate(live):
            last = position == len(live) - 1
            if last or self._broken_until.get(candidate, 0.0) <= now:
                yield candidate

    async def _request(self, task: Task, model: str, tally: _Tally) -> Generation:
        worst = pricing.worst_case_usd(
            model, task.num_images, kind=self._provider.kind, resolution=task.resolution
        )
        if not self._budget.reserve(worst):
            raise BudgetExceeded(
                f"budget reached: the next request could pass ${self._budget.max_usd}"
            )
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
                async with self._limiter.slot() as permit:
                    self._waiting.discard(waiting)
                    tally.wait_s += permit.waited_s
                    if self._stopping.is_set():
                        raise Abandoned
                    try:
                        generation = await self._timed_generate(task, model, tally)
                    except ProviderError as exc:
                        self._limiter.feedback(permit, overloaded=_is_overload(exc))
                        raise
                    self._limiter.feedback(permit, overloaded=False)
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
                generation = await self._provider.generate(task, model=model)
            tally.ttfb_s, tally.body_s = generation.ttfb_s, generation.body_s
            return generation
        except TimeoutError as exc:
            raise ProviderTimeout(f"no answer in {self._settings.request_timeout_s}s") from exc
        finally:
            tally.request_s = time.monotonic() - started

    def stop_waiting(self) -> None:
        """Drop every task still waiting for a slot: the run is stopping."""
        for scope in list(self._waiting):
            scope.cancel()

    async def _pause(self, seconds: float) -> None:
        with anyio.move_on_after(seconds):
            await self._stopping.wait()
        if self._stopping.is_set():
            raise Abandoned


def _is_overload(error: ProviderError) -> bool:
    """The server refused for load (not for what we asked): the adaptive limit's signal."""
    return isinstance(error, RateLimited) or error.status == 503


def _outcome(
    task: Task, tally: _Tally, model_used: str | None, error: BatchgenError | None
) -> Outcome:
    return Outcome(
        task=task,
        status="failed" if error else "done",
        attempts=tally.attempts,
        timing=Timing(
            wait_s=tally.wait_s,
            request_s=tally.request_s,
            download_s=tally.download_s,
            total_s=time.monotonic() - tally.started,
            ttfb_s=tally.ttfb_s,
            body_s=tally.body_s,
        ),
        cost_usd=tally.cost_usd,
        model_used=model_used,
        images=tuple(tally.images),
        error_kind=getattr(error, "kind", None) if error else None,
        error_message=str(error) if error else None,
        started_at=tally.started_at,
        finished_at=time.time(),
    )
