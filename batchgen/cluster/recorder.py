"""The driver's journal on a cluster: one process on the driver's machine owns the run directory
(its lock, journal, paid log, reports) and is the only writer, as on one machine. Workers send
it small records; it answers the two that must be durable before a worker goes on (a paid
generation before its download, an image's row before its object is put)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from batchgen.cluster.liveness import Answer, DriverId, DriverWatch
from batchgen.cluster.records import Chunk, ErrorNote, NotedError, Planned
from batchgen.errors import BatchgenError
from batchgen.expand import count_tasks
from batchgen.models import ImageRef, Manifest, Outcome, SavedImage, Task
from batchgen.report.files import write_reports
from batchgen.report.names import COST_FLAG_KIND, MODEL_STOPPED_KIND
from batchgen.report.summary import Summary
from batchgen.run.job import RunOptions
from batchgen.run.layout import clear_forgotten
from batchgen.run.prepare import prepare_run
from batchgen.run.runlog import COMMIT_EVERY_S, RunLog
from batchgen.store.journal import Journal
from batchgen.store.queuelog import QueueLog


@dataclass(frozen=True, slots=True)
class Opened:
    """The run as the journal set it up: the manifest with its filename settled, the run
    directory, whether images go to a bucket, and what earlier runs spent (a job-scoped cap)."""

    manifest: Manifest
    run_dir: str
    bucket: bool
    spent_before_usd: float


class Recorder:
    """Owns one run directory's journal for a cluster run (wrapped as a Ray actor)."""

    def __init__(self) -> None:
        self._journal: Journal | None = None
        self._log: RunLog | None = None
        self._run_dir = Path()
        self._committed_at = time.monotonic()
        self._driver: DriverWatch | None = None
        self._queue: QueueLog | None = None
        # queued requests (fal) not yet done, kept and made in this run: task id -> app -> URLs
        self._queued: dict[str, dict[str, dict[str, str]]] = {}

    def __repr__(self) -> str:
        return f"Recorder(run_dir={str(self._run_dir)!r})"

    def open(
        self, manifest: Manifest, options: RunOptions, driver: DriverId | None = None
    ) -> Opened | BatchgenError:
        """What run_job does before its engine starts; an error is returned (the driver
        raises it as the user's message), not raised through Ray with its traceback.
        `driver`: the process the workers' start permissions are asked of."""
        if driver is not None:
            self._driver = DriverWatch(driver)
        try:
            return self._open(manifest, options)
        except BatchgenError as exc:
            self.close()
            return exc

    def _open(self, manifest: Manifest, options: RunOptions) -> Opened:
        ready = prepare_run(
            manifest, options.state or options.out, fresh=options.fresh,
            wait_scale=options.wait_scale,
        )  # fmt: skip
        self._run_dir, self._journal = ready.run_dir, ready.journal
        if options.fresh:
            QueueLog.remove(ready.run_dir)
        self._queue = QueueLog.open(ready.run_dir, done_among=ready.journal.done_among)
        for (task_id, app), urls in self._queue.kept.items():
            self._queued.setdefault(task_id, {})[app] = urls
        planned = count_tasks(ready.manifest)
        self._log = RunLog.begin(ready.journal, name=ready.manifest.name, planned=planned)
        spent = ready.budget.spent_before_usd
        return Opened(ready.manifest, str(ready.run_dir), bool(ready.bucket), spent)

    def _run(self) -> tuple[Journal, RunLog]:
        assert self._journal is not None and self._log is not None, "open() first"
        return self._journal, self._log

    def plan(self, number: int, tasks: Sequence[Task]) -> Planned:
        """Of `tasks`, those not done (with what an earlier worker paid for), as a chunk."""
        journal, _ = self._run()
        done = journal.done_among([task.id for task in tasks])
        todo = [task for task in tasks if task.id not in done]
        pending = {}
        saved = {}
        for task in todo:
            _, generation = journal.task_state(task.id)
            if generation is not None:
                pending[task.id] = generation
                saved[task.id] = journal.saved_images(task.id)
        skipped = Counter(task.model for task in tasks if task.id in done)
        queued = {
            (task.id, app): urls
            for task in todo
            for app, urls in self._queued.get(task.id, {}).items()
        }
        return Planned(Chunk(number, tuple(todo), pending, saved, queued), dict(skipped))

    def queued(self, task_id: str, app: str, urls: dict[str, str]) -> None:
        """A worker's queued request (fal): in the queue log (one write(2)), and sent with
        the task's chunk again if its worker dies before reading it."""
        assert self._queue is not None, "open() first"
        self._queue.accepted(task_id, app, urls)
        self._queued.setdefault(task_id, {})[app] = urls

    def may_start(self) -> Answer:
        """A worker's start permission: is the driver still there (cluster/liveness.py)?"""
        return "go" if self._driver is None else self._driver.answer()

    def beat(self) -> None:
        """The driver's heartbeat (it matters when the driver is on another machine)."""
        if self._driver is not None:
            self._driver.beat()

    def settings(self, settings: dict[str, object]) -> None:
        self._run()[1].settings(settings)

    def paid(self, task: Task, model: str, refs: Sequence[ImageRef], cost_usd: float) -> None:
        """A worker's paid generation: in the paid log (one write(2)) when this returns."""
        self._run()[1].paid(task, model=model, refs=refs, cost_usd=cost_usd)

    async def image_saved(self, task_id: str, image: SavedImage) -> None:
        """An image's row, durable when this returns (the worker puts the object after)."""
        journal, _ = self._run()
        journal.record_image(task_id, image)
        await journal.durable()
        self._committed_at = time.monotonic()

    def attempt_failed(self, task: Task, model: str, attempt: int, note: ErrorNote) -> None:
        _, log = self._run()
        if note.kind == COST_FLAG_KIND:
            log.cost_flagged(task, model, note.message)
        elif note.kind == MODEL_STOPPED_KIND:
            log.model_stopped(task, model, note.message)
        else:
            log.attempt_failed(task, model, attempt, NotedError(note))
        self._commit_now_and_then()

    def finished(self, outcome: Outcome) -> None:
        self._run()[1].finished(outcome)
        if outcome.status == "done":  # never planned again: its queued requests are history
            self._queued.pop(outcome.task.id, None)
        self._commit_now_and_then()

    def _commit_now_and_then(self) -> None:
        """The open group as the local engine commits it: at most COMMIT_EVERY_S old."""
        if time.monotonic() - self._committed_at >= COMMIT_EVERY_S:
            self._run()[1].commit_pending()
            self._committed_at = time.monotonic()

    def end(self, *, wall_s: float, status: str, html: bool, manifest: Manifest) -> Summary:
        """Close the run in the journal, write the reports, let go of the folder."""
        journal, log = self._run()
        try:
            log.commit_pending()
            log.end(wall_s=wall_s, status=status)
            cap = (manifest.max_usd, manifest.budget_scope) if manifest.max_usd else None
            summary = write_reports(
                self._run_dir, journal, name=manifest.name, html=html, budget=cap
            )
            clear_forgotten(self._run_dir, journal)
            return summary
        finally:
            self.close()

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
        if self._queue is not None:
            self._queue.close()
            self._queue = None
        if self._journal is not None:
            self._journal.close()
        self._journal = self._log = None
