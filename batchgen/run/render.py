"""One task from request to whole files on disk: retries, backoff, fallback models, resume."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import anyio

from batchgen import pricing
from batchgen.errors import (
    BatchgenError,
    DownloadError,
    ModelRetired,
    ProviderError,
    ProviderTimeout,
    RateLimited,
)
from batchgen.models import Generation, ImageRef, Outcome, SavedImage, Task, Timing
from batchgen.providers.base import Provider
from batchgen.retry import Decision, GiveUp, NextModel, Retry, RetryPolicy, StopRun, decide
from batchgen.run.breaker import Breaker
from batchgen.run.budget import Budget
from batchgen.run.limits import Limiter, Permit
from batchgen.run.runlog import RunLog
from batchgen.run.saving import ImageSaver
from batchgen.store.journal import PendingGeneration

BREAKER_S = 60.0  # a model that just failed a task outright is skipped for this long


class Abandoned(Exception):
    """The run is stopping; this task was dropped before its request went out."""


class _ModelStopped(Exception):
    """The breaker stopped the model while this task waited to probe it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderSettings:
    request_timeout_s: float
    fallback: Mapping[str, str] = field(default_factory=dict)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    prices: Mapping[str, float] = field(default_factory=dict)  # the manifest's, over the table


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
    process_s: float | None = None  # converting images (output.format/sizes); None: none
    cost_usd: float = 0.0
    images: list[SavedImage] = field(default_factory=list)

    def saved_since(self, started: float, process_s: float | None) -> None:
        """Time since `started` saving images: the conversion part is `process`, the rest
        `download`."""
        elapsed = time.monotonic() - started
        if process_s is not None:
            self.process_s = (self.process_s or 0.0) + process_s
            elapsed -= process_s
        self.download_s += max(elapsed, 0.0)


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
        breaker: Breaker | None = None,
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
        self._breaker = breaker or Breaker()

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
        error = error or self._dead_end(task.model)
        return _outcome(task, tally, None, error)

    def _dead_end(self, model: str) -> BatchgenError:
        """Why no model of the chain was asked: stopped by the breaker, or retired."""
        for candidate in self._chain_of(model):
            if (stopped := self._breaker.stopped(candidate)) is not None:
                return stopped
        return ModelRetired("every model in the fallback chain is retired")

    async def _render_with(
        self, task: Task, model: str, tally: _Tally
    ) -> Outcome | tuple[ProviderError, NextModel | GiveUp]:
        """Ask one model until it answers, or until the decision is to move on."""
        attempt = 0
        while True:
            if (stopped := self._breaker.stopped(model)) is not None:
                return stopped, NextModel()
            attempt += 1
            tally.attempts += 1
            try:
                generation = await self._request(task, model, tally)
            except _ModelStopped:
                tally.attempts -= 1  # nothing was sent
                continue
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
        """An earlier run paid for this task's images (it was killed, or the downloads
        failed): fetch them, do not pay again. Only images that are gone for good (an
        expired link, staged bytes lost) are bought again; while the host is still failing
        the task fails again and keeps its generation."""
        tally.cost_usd += pending.cost_usd
        if not pending.refs:
            return None  # a journal from before inline images were staged: buy again
        started = time.monotonic()
        try:
            await self._saver.save_all(
                task, pending.model, pending.refs, tally.images, resuming=True
            )
        except DownloadError as exc:
            if not _gone(exc):  # the host is still failing: paying again would not help
                return _outcome(task, tally, pending.model, _kept(exc, pending.refs))
            tally.images.clear()
            return None  # the links have expired: render again
        finally:
            tally.saved_since(started, self._saver.clock.take(task.id))
        return _outcome(task, tally, pending.model, None)

    async def _finish(
        self, task: Task, model: str, generation: Generation, tally: _Tally
    ) -> Outcome:
        started = time.monotonic()  # `paid` is recorded already (in _request)
        try:
            await self._saver.save_all(task, model, generation.images, tally.images)
        except DownloadError as exc:
            return _outcome(task, tally, model, _kept(exc, generation.images))
        finally:
            tally.saved_since(started, self._saver.clock.take(task.id))
        return _outcome(task, tally, model, None)

    def _chain_of(self, model: str) -> list[str]:
        chain: list[str] = []
        current: str | None = model
        while current is not None and current not in chain:
            chain.append(current)
            current = self._settings.fallback.get(current)
        return chain

    def _chain(self, model: str) -> Iterator[str]:
        """The model, then its fallbacks; a retired or stopped model is left out, and one that
        just failed outright is passed over while a fallback stands behind it."""
        live = [
            m
            for m in self._chain_of(model)
            if m not in self._retired and self._breaker.stopped(m) is None
        ]
        now = time.monotonic()
        for position, candidate in enumerate(live):
            last = position == len(live) - 1
            if last or self._broken_until.get(candidate, 0.0) <= now:
                yield candidate

    async def _request(self, task: Task, model: str, tally: _Tally) -> Generation:
        """One request: a probe turn (breaker), a slot, then room in the budget while holding
        the slot; the cost is settled however it ends."""
        with anyio.CancelScope() as waiting:
            self._waiting.add(waiting)  # stop_waiting() cancels tasks not yet sending
            try:
                if not await self._breaker.admit(model):
                    raise _ModelStopped
                async with self._limiter.slot() as permit:
                    tally.wait_s += permit.waited_s
                    generation = await self._paid_request(task, model, tally, (permit, waiting))
                    # recorded while the slot is held: a cluster's answers paid and never
                    # recorded (a killed driver) are then never more than the slots
                    self._log.paid(
                        task, model=model, refs=generation.images, cost_usd=tally.cost_usd
                    )
                    await self._log.paid_recorded(task)  # a cluster's worker: the driver's journal
                    return generation
            finally:
                self._waiting.discard(waiting)
        raise Abandoned  # the scope was cancelled: the run is stopping

    async def _paid_request(
        self, task: Task, model: str, tally: _Tally, held: tuple[Permit, anyio.CancelScope]
    ) -> Generation:
        permit, waiting = held
        if self._stopping.is_set():
            raise Abandoned
        table_worst = self._table_usd(model, task.num_images, task)
        worst = self._budget.worst_case(model, task.num_images, table_worst)
        started = time.monotonic()
        await self._budget.claim(worst)  # BudgetExceeded when it cannot fit, even alone
        tally.wait_s += time.monotonic() - started
        self._waiting.discard(waiting)
        cost = 0.0
        try:
            if self._stopping.is_set():
                raise Abandoned
            generation = await self._send(task, model, tally, permit)
            cost = self._charge(task, model, generation, table_worst)
        except ProviderError as exc:
            cost = exc.billed_usd
            raise
        finally:
            self._budget.settle(worst, cost)
            tally.cost_usd += cost
        return generation

    async def _send(self, task: Task, model: str, tally: _Tally, permit: Permit) -> Generation:
        """Ask the provider, telling the limiter and the breaker how it went."""
        try:
            generation = await self._timed_generate(task, model, tally)
        except ProviderError as exc:
            named = isinstance(exc, RateLimited) and exc.own_limit
            self._limiter.feedback(permit, overloaded=_is_overload(exc), named=named)
            self._tell_breaker(task, model, exc)
            raise
        self._limiter.feedback(permit, overloaded=False)
        self._tell_breaker(task, model, None)
        if generation.hold_s:  # before the slot frees: no start slips in between
            self._limiter.cool_down(generation.hold_s)
        return generation

    def _tell_breaker(self, task: Task, model: str, error: ProviderError | None) -> None:
        stopped = self._breaker.answered(model, error)
        if stopped is not None:
            self._log.model_stopped(task, model, str(stopped))

    def _table_usd(self, model: str, images: int, task: Task) -> float:
        return pricing.worst_case_usd(
            model,
            images,
            kind=self._provider.kind,
            resolution=task.resolution,
            prices=self._settings.prices,
        )

    def _charge(self, task: Task, model: str, generation: Generation, worst: float) -> float:
        """What the answer is counted as costing; a surprise is flagged in the journal, and one
        above the worst case shrinks the budget's room for this model's later requests."""
        table = self._table_usd(model, len(generation.images), task)
        known = pricing.price_per_image(
            model,
            kind=self._provider.kind,
            resolution=task.resolution,
            prices=self._settings.prices,
        )
        reported = pricing.reported_usd(generation.usage)
        if known is None:  # no worst case to hold it to (no budget can name such a model)
            reported = reported if reported is not None else 0.0
            charge = pricing.charge(reported, table_usd=0.0, worst_usd=0.0)
        else:
            charge = pricing.charge(reported, table_usd=table, worst_usd=worst)
        if charge.flag is not None:
            self._log.cost_flagged(task, model, charge.flag)
        if known is not None and charge.usd > worst + 1e-9:
            self._budget.over(model, task.num_images, charge.usd)
        return charge.usd

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


def _gone(error: DownloadError) -> bool:
    """Images that cannot be fetched again: refused for good (an expired link, lost bytes).
    A host that does not answer or refuses connections may be back for the next run, so the
    generation is kept (the links of a killed run's built-in emulator, whose port died with
    it, are served by this run's: providers.open_provider)."""
    return not error.retryable


def _kept(error: DownloadError, refs: Sequence[ImageRef]) -> DownloadError:
    """The report's word for a paid generation whose images are not all on disk: the run
    log keeps it (a failed download), and the next run fetches it before paying again."""
    what = "links" if any(ref.url for ref in refs) else "images"
    return DownloadError(f"{error} (paid; {what} kept for the next run)", retryable=False)


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
            process_s=tally.process_s,
        ),
        cost_usd=tally.cost_usd,
        model_used=model_used,
        images=tuple(tally.images),
        error_kind=getattr(error, "kind", None) if error else None,
        error_message=str(error) if error else None,
        started_at=tally.started_at,
        finished_at=time.time(),
    )
