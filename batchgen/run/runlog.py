"""The run log: everything a run writes to its journal, and when each write becomes durable.

When is a paid generation durable? At once: `paid` returns with no await between the answer
and the record, before the first download starts. Its inline images (base64 answers) are
written to files in the run's staging area (.paid/), then the generation's links or staged
files go to the paid log (journal.paid) in one write(2); its journal row joins the open group
and the next commit empties the log. Data written so is in the kernel when the call returns:
a killed process (kill -9 included) loses none of it, and the next run folds the log back
into the journal and fetches the images, never paying again. A machine crash or power loss
may lose the last moments of both the log and the journal (nothing is fsynced; SQLite's WAL
runs with synchronous=NORMAL): the promise is against a killed process, not a lost machine.

A paid generation whose images do not all reach the disk (a CDN down for longer than the
download retries) stays kept: the task fails with kind "download" and the next run fetches
its links first (`finished` keeps it); only images that are gone for good (a 403/404/410
link, a host that refuses connections, lost staged bytes) are bought again.

An image's row is durable before its file is renamed into place (`image_saved`, a commit
shared by writers within a few ms), so every file on disk is known. Failed attempts and
finished tasks join the open group, committed every COMMIT_EVERY_S (`commit_periodically`)
and at the end (`commit_pending`): a kill loses at most that much, and a rerun redoes only
that (from the paid generation, when there is one).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import anyio

from batchgen.errors import BatchgenError, DownloadError
from batchgen.models import ImageRef, Outcome, SavedImage, Task
from batchgen.report.names import COST_FLAG_KIND, MODEL_STOPPED_KIND
from batchgen.run.observer import Observer
from batchgen.store.journal import Journal, PendingGeneration

COMMIT_EVERY_S = 0.25  # outcomes not yet committed are at most this old (a kill redoes them)


class RunLog:
    """One run's journal, in the run's words. Engine, renderer and saver write only here."""

    def __init__(self, journal: Journal, run_id: int, observer: Observer | None = None) -> None:
        self._journal = journal
        self._run_id = run_id
        self._observer = observer or Observer()

    def __repr__(self) -> str:
        return f"RunLog(run_id={self._run_id}, journal={self._journal.path})"

    @classmethod
    def begin(
        cls, journal: Journal, *, name: str, planned: int, observer: Observer | None = None
    ) -> RunLog:
        """Start a run in the journal (committed at once)."""
        run_id = journal.begin_run(name=name, planned=planned, started_at=time.time())
        return cls(journal, run_id, observer)

    def end(self, *, wall_s: float, status: str) -> None:
        """Close the run in the journal (committed at once, with everything before it)."""
        self._journal.end_run(self._run_id, finished_at=time.time(), wall_s=wall_s, status=status)

    # reads the engine and the saver need
    def done_among(self, task_ids: Sequence[str]) -> set[str]:
        return self._journal.done_among(task_ids)

    def task_state(self, task_id: str) -> tuple[bool, PendingGeneration | None]:
        return self._journal.task_state(task_id)

    def saved_images(self, task_id: str) -> dict[int, SavedImage]:
        return self._journal.saved_images(task_id)

    # writes, each with its durability
    def paid(self, task: Task, *, model: str, refs: Sequence[ImageRef], cost_usd: float) -> None:
        """A generation was paid for: durable against a kill when this returns (inline images
        staged, one line in the paid log), before any of its downloads starts; no commit."""
        self._journal.record_generation(
            task.id, run_id=self._run_id, model=model, refs=refs, cost_usd=cost_usd
        )

    async def paid_recorded(self, task: Task) -> None:
        """Return once `paid`'s record is where a rerun finds it: here at once (`paid` wrote
        it); a cluster's worker waits for the driver's journal (batchgen/cluster/remotelog.py)."""

    async def image_saved(self, task: Task, image: SavedImage) -> None:
        """An image is staged: its row is durable when this returns, before the file's rename."""
        self._journal.record_image(task.id, image)
        await self._journal.durable()

    def attempt_failed(self, task: Task, model: str, attempt: int, error: BatchgenError) -> None:
        """One attempt failed, retried or not (in the open group); the observer hears of it."""
        self._journal.record_error(
            task_id=task.id,
            run_id=self._run_id,
            attempt=attempt,
            model=model,
            kind=getattr(error, "kind", type(error).__name__),
            status=getattr(error, "status", None),
            message=str(error),
            billed_usd=getattr(error, "billed_usd", 0.0),
            at=time.time(),
        )
        self._observer.attempt_failed(task, model, attempt, error)

    def cost_flagged(self, task: Task, model: str, message: str) -> None:
        """A reported cost was not what the worst case allowed (above it, negative, absurd):
        kept beside the errors under COST_FLAG_KIND (billed 0: the cost is in the task's)."""
        self._note(task, model, COST_FLAG_KIND, message)

    def model_stopped(self, task: Task, model: str, reason: str) -> None:
        """The breaker stopped a model, on `task`'s answer: one errors row of kind
        MODEL_STOPPED_KIND says so in the report (billed 0), and the observer hears it once."""
        self._note(task, model, MODEL_STOPPED_KIND, reason)
        self._observer.model_stopped(model, reason)

    def _note(self, task: Task, model: str, kind: str, message: str) -> None:
        """An errors row that is no failed attempt (attempt 0, billed 0): the report reads it
        by its kind."""
        self._journal.record_error(
            task_id=task.id,
            run_id=self._run_id,
            attempt=0,
            model=model,
            kind=kind,
            status=None,
            message=message,
            billed_usd=0.0,
            at=time.time(),
        )

    def finished(self, outcome: Outcome) -> None:
        """A task ended (in the open group: a kill before the next commit renders it again,
        from its paid generation if it has one); then the observer hears of it. A task that
        failed downloading keeps its paid generation for the next run."""
        kept = outcome.status == "failed" and outcome.error_kind == DownloadError.kind
        self._journal.record(outcome, run_id=self._run_id, keep_generation=kept)
        self._observer.finished(outcome)

    # what the report's settings and timeline read (issue 17); both join the open group
    def settings(self, settings: Mapping[str, Any]) -> None:
        """What this run was asked to do (no secrets: batchgen.run.settings builds it)."""
        self._journal.record_settings(self._run_id, json.dumps(settings, sort_keys=True))

    def sample(
        self, *, in_flight: int, concurrency: int, adaptive: bool, started: int, overloads: int
    ) -> None:
        """The limiter's state now, for the report's timeline."""
        counts = (in_flight, concurrency, int(adaptive), started, overloads)
        self._journal.record_sample(self._run_id, time.time(), counts)

    def commit_pending(self) -> None:
        """Make the open group durable (at the end of the run)."""
        self._journal.commit()

    async def commit_periodically(self) -> None:
        """Commit the open group every COMMIT_EVERY_S until cancelled or a commit fails."""
        while True:
            await anyio.sleep(COMMIT_EVERY_S)
            self._journal.commit()
