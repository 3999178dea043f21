"""mode: batch — tasks go to the provider's batch API in chunks, and come back as files.

Crash safety: a batch is journalled ("submitting", with a run-unique marker the provider keeps
in the batch's metadata or display name, and its task ids) before the provider hears of it,
and its id right after. A rerun finds a batch that was created just before a kill by listing
the provider's batches for the marker; one never created is dropped and its tasks sent again.
A task is in at most one live batch, so none is submitted twice. Results are written through
the same saver, sink and journal rows as live ones; a batch that expires or fails leaves its
unanswered tasks to a new batch, or to live requests near the deadline (fallback_mode: live).
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import anyio

from batchgen import pricing
from batchgen.errors import BatchgenError, ProviderError, ServerError
from batchgen.models import Outcome, SavedImage, Task, Timing
from batchgen.providers.batch_base import DEFAULT_CHUNK, BatchClient, LineResult, RemoteBatch
from batchgen.run.batch_spend import BatchSpend
from batchgen.run.engine import RunResult
from batchgen.run.options import DEFAULT_POLL_S
from batchgen.run.runlog import RunLog
from batchgen.run.saving import ImageSaver
from batchgen.store.journal import BatchRecord, Journal

DEFAULT_LIVE_MARGIN_S = 3600.0  # fallback_mode: live sends leftovers live this long before
MAX_SUBMITS = 3  # a task in this many batches that expired or failed fails in this run
SUBMITTING, ABANDONED = "submitting", "abandoned"

# live requests for the leftovers near the deadline, with what is left of the budget
LiveRun = Callable[[list[Task], float | None], Awaitable[RunResult]]


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSettings:
    chunk: int = DEFAULT_CHUNK
    poll_s: float = DEFAULT_POLL_S
    resolution: str = "1K"
    deadline_at: float | None = None  # epoch seconds the results are wanted by
    live_margin_s: float = DEFAULT_LIVE_MARGIN_S
    max_usd: float | None = None  # this run's spend cap, at the batch price

    def __post_init__(self) -> None:
        if self.chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {self.chunk!r}")
        if self.poll_s < 0:
            raise ValueError(f"poll_s must be >= 0, got {self.poll_s!r}")


class BatchRunner:
    """Submits, attaches, polls and collects the batches of one run directory."""

    def __init__(
        self,
        *,
        client: BatchClient,
        journal: Journal,
        log: RunLog,
        saver: ImageSaver,
        settings: BatchSettings,
        live: LiveRun | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._journal = journal
        self._log = log
        self._saver = saver
        self._settings = settings
        self._live = live
        self._clock = clock
        self._token = uuid.uuid4().hex[:12]  # run-unique part of each batch's marker
        self._seq = itertools.count(1)
        self._done: set[str] = set()
        self._failed: set[str] = set()
        self._submits: dict[str, int] = {}
        self._spend = BatchSpend(settings.max_usd, api=client.api, resolution=settings.resolution)
        self._over_budget: set[str] = set()

    def __repr__(self) -> str:
        return f"BatchRunner(client={self._client!r}, settings={self._settings!r})"

    async def run(self, tasks: Iterable[Task]) -> RunResult:
        started = time.monotonic()
        by_id = {task.id: task for task in tasks}
        ids = list(by_id)
        for start in range(0, len(ids), 500):
            self._done |= self._log.done_among(ids[start : start + 500])
        skipped = len(self._done)
        await self._recover()
        while True:
            records = self._journal.batches()
            waiting = [r for r in records if _open(r)]
            taken = {task_id for r in waiting for task_id in r.task_ids}
            pending = [
                task
                for task_id, task in by_id.items()
                if task_id not in self._done | self._failed | self._over_budget | taken
            ]
            if pending:
                await self._dispatch(pending)
                continue
            if not waiting:
                break
            if not await self._poll_all(waiting, by_id):
                await anyio.sleep(self._settings.poll_s)
        done, wall_s = len(self._done) - skipped, time.monotonic() - started
        if self._over_budget:
            reason = f"budget reached: {len(self._over_budget)} tasks not sent"
            return RunResult("budget", reason, done, len(self._failed), skipped, wall_s)
        return RunResult("complete", None, done, len(self._failed), skipped, wall_s)

    async def _recover(self) -> None:
        """Batches a killed run was creating: the provider's own, found by marker, or none."""
        for record in self._journal.batches():
            if record.state != SUBMITTING:
                continue
            found = await self._client.find(record.marker)
            if found is None:
                self._journal.update_batch(record.marker, state=ABANDONED)
            else:
                self._attach(record.marker, found)

    def _attach(self, marker: str, remote: RemoteBatch) -> None:
        self._journal.update_batch(
            marker, remote_id=remote.id, state=remote.state, submitted_at=self._clock()
        )

    async def _dispatch(self, pending: list[Task]) -> None:
        """Leftovers go live near the deadline (when allowed), else into new batches."""
        deadline = self._settings.deadline_at
        near = deadline is not None and self._clock() >= deadline - self._settings.live_margin_s
        if near and self._live is not None:
            await self._live(pending, self._spend.left())
            ids = [task.id for task in pending]
            now_done = self._log.done_among(ids)
            self._done |= now_done
            self._failed |= set(ids) - now_done
            return
        for task in pending:
            self._submits[task.id] = self._submits.get(task.id, 0) + 1
        for task in [t for t in pending if self._submits[t.id] > MAX_SUBMITS]:
            self._fail(task, task.model, ServerError(f"in {MAX_SUBMITS} batches, none answered"))
        fresh = [t for t in pending if self._submits[t.id] <= MAX_SUBMITS]
        fits = self._spend.fitting(fresh)
        self._over_budget.update(task.id for task in fresh[fits:])
        fresh = fresh[:fits]
        size = min(self._settings.chunk, self._client.max_requests)
        for model, grouped in itertools.groupby(sorted(fresh, key=_model), key=_model):
            group = list(grouped)
            for start in range(0, len(group), size):
                await self._submit(model, group[start : start + size])

    async def _submit(self, model: str, chunk: Sequence[Task]) -> None:
        marker = f"batchgen-{self._token}-{next(self._seq)}"
        record = BatchRecord(
            marker=marker,
            api=self._client.api,
            model=model,
            task_ids=tuple(task.id for task in chunk),
            remote_id=None,
            state=SUBMITTING,
            created_at=self._clock(),
        )
        self._journal.add_batch(record)  # durable before the provider hears of the batch
        self._spend.hold(marker, chunk)
        try:
            remote = await self._client.submit(marker, model, chunk)
        except ProviderError as exc:
            found = await self._client.find(marker)  # it may exist though the answer was lost
            if found is not None:
                self._attach(marker, found)
                return
            self._journal.update_batch(marker, state=ABANDONED, message=str(exc))
            for task in chunk:
                self._fail(task, model, exc)
            return
        self._attach(marker, remote)

    async def _poll_all(self, waiting: list[BatchRecord], by_id: dict[str, Task]) -> bool:
        """Poll every open batch; True when one ended (the loop then looks again at once)."""
        ended = False
        for record in waiting:
            assert record.remote_id is not None
            remote = await self._client.status(record.remote_id)
            if remote.state != record.state:
                self._journal.update_batch(record.marker, state=remote.state)
            if remote.ended:
                await self._collect(record, remote, by_id)
                ended = True
        return ended

    async def _collect(
        self, record: BatchRecord, remote: RemoteBatch, by_id: dict[str, Task]
    ) -> None:
        """Write every answered task (the unanswered are free for a new batch), then mark the
        batch collected: a kill before that collects it again, skipping what is done."""
        ended_at = self._clock()
        turnaround = ended_at - (record.submitted_at or record.created_at)
        paid = 0.0
        for line in await self._client.results(remote, record.model):
            task = by_id.get(line.key)
            if task is None or line.key not in record.task_ids or task.id in self._done:
                continue
            paid += await self._settle(task, record.model, line, turnaround)
        self._spend.settle(record.marker, paid)
        self._log.commit_pending()
        self._journal.update_batch(record.marker, collected=1, ended_at=ended_at)

    async def _settle(self, task: Task, model: str, line: LineResult, turnaround: float) -> float:
        """Write one answered task; what it cost (a failed line costs nothing)."""
        if line.generation is None:
            self._fail(task, model, line.error or ServerError("no answer"))
            return 0.0
        saved: list[SavedImage] = []
        started = time.monotonic()
        try:
            await self._saver.save_all(task, model, line.generation.images, saved, resuming=True)
        except BatchgenError as exc:
            self._saver.clock.take(task.id)  # a failed task has no timing to keep
            self._fail(task, model, exc)
            return 0.0
        cost = pricing.cost_usd(
            model,
            len(saved),
            line.generation.usage,
            kind=self._client.api,
            resolution=self._settings.resolution,
        ) * (pricing.batch_factor(self._client.api) or 1.0)
        process = self._saver.clock.take(task.id)
        saving = time.monotonic() - started - (process or 0.0)
        timing = Timing(download_s=saving, total_s=turnaround, process_s=process)
        now = self._clock()
        outcome = Outcome(
            task, "done", 1, timing, cost, model, tuple(saved), started_at=now, finished_at=now
        )
        self._log.finished(outcome)
        self._done.add(task.id)
        return cost

    def _fail(self, task: Task, model: str, error: BatchgenError) -> None:
        self._log.attempt_failed(task, model, 1, error)
        now = self._clock()
        outcome = Outcome(
            task,
            "failed",
            1,
            Timing(),
            0.0,
            model,
            error_kind=getattr(error, "kind", type(error).__name__),
            error_message=str(error),
            started_at=now,
            finished_at=now,
        )
        self._log.finished(outcome)
        self._failed.add(task.id)


def _open(record: BatchRecord) -> bool:
    return record.remote_id is not None and not record.collected and record.state != ABANDONED


def _model(task: Task) -> str:
    return task.model
