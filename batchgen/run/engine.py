"""The task group: a lazy feed of tasks through a bounded channel to workers, and a clean stop.

Stopping (Ctrl-C, SIGTERM, budget, a bad key): no new request starts, tasks still queued for a
slot are dropped, requests in flight get `grace_s` to finish and save their images, then are
cancelled. The journal only ever holds whole outcomes, so a rerun picks up what is missing.
"""

from __future__ import annotations

import itertools
import signal
import time
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Literal

import anyio
from anyio import CancelScope
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from batchgen.errors import BudgetExceeded, JournalError, ProviderError, SinkError
from batchgen.models import Task
from batchgen.run.limits import Limiter
from batchgen.run.observer import Observer as Observer  # its public home stays here
from batchgen.run.options import DEFAULT_GRACE_S
from batchgen.run.render import Abandoned, Renderer
from batchgen.run.runlog import RunLog
from batchgen.store.journal import PendingGeneration

SAMPLE_EVERY_S = 1.0  # the report's timeline of in flight / limit / 429s, and the live view's
FEED_BATCH = 256
RunStatus = Literal["complete", "interrupted", "budget", "aborted"]
TaskSource = Iterable[Task] | AsyncIterable[Task]


async def _batches(tasks: TaskSource) -> AsyncIterator[list[Task]]:
    """Lazy tasks in batches (one journal look-up per batch); async arrivals one by one."""
    if isinstance(tasks, AsyncIterable):
        async for task in tasks:
            yield [task]
        return
    iterator = iter(tasks)
    while batch := list(itertools.islice(iterator, FEED_BATCH)):
        yield batch


@dataclass(frozen=True, slots=True)
class RunResult:
    status: RunStatus
    reason: str | None
    done: int
    failed: int
    skipped: int
    wall_s: float


class Engine:
    """Runs tasks through parts built elsewhere (batchgen.run.job assembles them): the
    renderer takes a task to an outcome, the run log keeps the journal."""

    def __init__(
        self,
        *,
        renderer: Renderer,
        log: RunLog,
        stopping: anyio.Event,
        workers: int,
        observer: Observer | None = None,
        grace_s: float = DEFAULT_GRACE_S,
        limiter: Limiter | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self._renderer = renderer
        self._log = log
        self._stopping = stopping  # shared with the renderer: set, no new request starts
        self._workers = workers
        self._observer = observer or Observer()
        self._grace_s = grace_s
        self._limiter = limiter  # sampled for the timeline; None: no samples
        self._status: RunStatus = "complete"
        self._reason: str | None = None
        self._in_flight: set[str] = set()
        self._counts = {"done": 0, "failed": 0, "skipped": 0}
        self._outer: TaskGroup | None = None
        self._work_scope: CancelScope | None = None

    async def run(self, tasks: TaskSource, *, handle_signals: bool = False) -> RunResult:
        """Render `tasks`: a lazy iterable, or an async one whose tasks arrive on their own
        schedule (the open-loop benchmark offers load that way)."""
        started = time.monotonic()
        send, receive = anyio.create_memory_object_stream[Task](self._workers)
        async with anyio.create_task_group() as outer:
            self._outer = outer
            if handle_signals:
                outer.start_soon(self._watch_signals)
            outer.start_soon(self._commit_periodically)
            outer.start_soon(self._sample_periodically)
            async with anyio.create_task_group() as work:
                self._work_scope = work.cancel_scope
                work.start_soon(self._feed, tasks, send)
                async with receive:
                    for _ in range(self._workers):
                        work.start_soon(self._work, receive.clone())
            outer.cancel_scope.cancel()  # the signal watcher, committer, grace timer too
        self._sample()  # the last point: nothing in flight
        self._log.commit_pending()
        return RunResult(
            status=self._status,
            reason=self._reason,
            wall_s=time.monotonic() - started,
            **self._counts,
        )

    def stop(self, status: RunStatus = "interrupted", reason: str | None = None) -> None:
        """Start a clean stop; the first reason given is the one reported."""
        if self._stopping.is_set():
            return
        self._status, self._reason = status, reason
        self._stopping.set()
        self._renderer.stop_waiting()
        self._observer.stopping(len(self._in_flight))
        if self._outer is not None:
            self._outer.start_soon(self._cancel_after_grace)

    def cancel(self) -> None:
        """Stop now: requests in flight are cancelled (their tasks stay undone)."""
        self.stop()
        if self._work_scope is not None:
            self._work_scope.cancel()

    async def _cancel_after_grace(self) -> None:
        await anyio.sleep(self._grace_s)
        self.cancel()

    async def _commit_periodically(self) -> None:
        try:
            await self._log.commit_periodically()
        except JournalError as exc:
            self.stop("aborted", str(exc))

    async def _sample_periodically(self) -> None:
        while True:
            self._sample()
            await anyio.sleep(SAMPLE_EVERY_S)

    def _sample(self) -> None:
        if self._limiter is None:
            return
        stats = self._limiter.statistics()
        self._log.sample(
            in_flight=stats.in_flight,
            concurrency=stats.concurrency,
            adaptive=stats.adaptive,
            started=stats.started,
            overloads=stats.overloads,
        )
        self._observer.load(
            in_flight=stats.in_flight, limit=stats.concurrency, adaptive=stats.adaptive
        )

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                if self._stopping.is_set():
                    self.cancel()  # a second Ctrl-C does not wait for the grace period
                else:
                    self.stop("interrupted", f"stopped by {signal.Signals(signum).name}")

    async def _feed(self, tasks: TaskSource, send: MemoryObjectSendStream[Task]) -> None:
        async with send:
            async for batch in _batches(tasks):
                done = self._log.done_among([task.id for task in batch])
                self._skip(Counter(task.model for task in batch if task.id in done))
                for task in batch:
                    if self._stopping.is_set():
                        return
                    if task.id not in done and not await _send(send, task):
                        return  # every worker has left: the run is stopping

    async def _work(self, receive: MemoryObjectReceiveStream[Task]) -> None:
        async with receive:
            while (task := await _receive(receive)) is not None:
                if self._stopping.is_set():
                    return
                done, pending = self._log.task_state(task.id)
                if done or task.id in self._in_flight:
                    self._skip(Counter([task.model]))  # a task twice in one manifest: rendered once
                    continue
                self._in_flight.add(task.id)
                self._observer.started(task)
                try:
                    await self._render(task, pending)
                finally:
                    self._in_flight.discard(task.id)
                    if self._stopping.is_set():  # the live view counts down what a stop awaits
                        self._observer.stopping(len(self._in_flight))

    async def _render(self, task: Task, pending: PendingGeneration | None) -> None:
        try:
            outcome = await self._renderer.render(task, pending)
            self._log.finished(outcome)  # in the journal, then the observer hears of it
        except Abandoned:
            return
        except BudgetExceeded as exc:
            self.stop("budget", str(exc))
            return
        except (ProviderError, SinkError, JournalError) as exc:  # a ProviderError here stops_run
            self.stop("aborted", str(exc))
            return
        self._counts[outcome.status] += 1

    def _skip(self, by_model: Counter[str]) -> None:
        count = sum(by_model.values())
        if count:
            self._counts["skipped"] += count
            self._observer.skipped(count, by_model)


async def _send(send: MemoryObjectSendStream[Task], task: Task) -> bool:
    """Hand `task` to a worker; False when none is left. Where the buffer has room, without
    the loop turn anyio's send always takes (with the receive's, two a task: 1.5% of the
    instructions an image, benchmarks/instructions.py)."""
    try:
        try:
            send.send_nowait(task)
        except anyio.WouldBlock:
            await send.send(task)
    except anyio.BrokenResourceError:
        return False
    return True


async def _receive(receive: MemoryObjectReceiveStream[Task]) -> Task | None:
    """The next task, or None once the feed is closed and drained; a task already waiting is
    taken without a loop turn."""
    try:
        try:
            return receive.receive_nowait()
        except anyio.WouldBlock:
            return await receive.receive()
    except anyio.EndOfStream:
        return None
