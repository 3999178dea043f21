"""A worker's run log: the engine's RunLog whose writes go to the driver's journal (the only
writer) and whose reads come from what the driver sent with the chunk.

Durability is the driver's: a paid generation is in the driver's paid log before the worker
downloads (`paid_recorded` awaits the driver's answer), an image's row is durable there before
the object is put; failed attempts and outcomes are sent without waiting (a worker killed
before they arrive leaves its tasks undone: they are rendered again, from their paid
generation when the driver has it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from batchgen.cluster.records import Chunk, ErrorNote, note_of
from batchgen.errors import BatchgenError
from batchgen.models import ImageRef, Outcome, SavedImage, Task
from batchgen.report.names import COST_FLAG_KIND, MODEL_STOPPED_KIND
from batchgen.run.runlog import RunLog
from batchgen.store.journal import PendingGeneration


class RecorderClient(Protocol):
    """How a worker reaches the driver's journal: what it awaits, and what it only sends."""

    async def paid(
        self, task: Task, model: str, refs: Sequence[ImageRef], cost_usd: float
    ) -> None: ...

    async def image_saved(self, task_id: str, image: SavedImage) -> None: ...

    def attempt_failed(
        self, task: Task, model: str, attempt: int, note: ErrorNote
    ) -> Awaitable[None]: ...

    def finished(self, outcome: Outcome) -> Awaitable[None]: ...


class RemoteQueue:
    """A queued provider's book (fal's QueueBook) on a worker: what the driver's queue log
    kept for the chunk's tasks, and each new request sent to it (a note, not awaited: the
    recorder hears it before the task's paid record, which comes later from this worker)."""

    def __init__(self, send: Callable[[str, str, Mapping[str, str]], None], chunk: Chunk) -> None:
        self._send = send
        self._kept = {key: dict(urls) for key, urls in chunk.queued.items()}

    def __repr__(self) -> str:
        return f"RemoteQueue(kept={len(self._kept)})"

    @property
    def kept(self) -> Mapping[tuple[str, str], dict[str, str]]:
        return self._kept

    def accepted(self, task_id: str, model: str, urls: Mapping[str, str]) -> None:
        self._send(task_id, model, urls)


class RemoteLog(RunLog):
    """The run log of one chunk on a worker (see the module docstring)."""

    def __init__(self, recorder: RecorderClient, chunk: Chunk) -> None:
        # no journal here: every method that would touch one is replaced below
        self._recorder = recorder
        self._chunk = chunk
        self._paid: dict[str, tuple[str, Sequence[ImageRef], float]] = {}
        self._sent: list[Awaitable[None]] = []  # records sent, not yet known to be written

    async def drain(self) -> None:
        """Wait until every record sent is in the driver's journal (before the chunk is
        reported done: the driver may end the run as soon as it hears)."""
        while self._sent:
            await self._sent.pop()

    def __repr__(self) -> str:
        return f"RemoteLog(chunk={self._chunk.number}, tasks={len(self._chunk.tasks)})"

    # reads: the driver sent the chunk with what its journal knows
    def done_among(self, task_ids: Sequence[str]) -> set[str]:
        return set()  # the driver sends only tasks that are not done

    def task_state(self, task_id: str) -> tuple[bool, PendingGeneration | None]:
        return False, self._chunk.pending.get(task_id)

    def saved_images(self, task_id: str) -> dict[int, SavedImage]:
        return dict(self._chunk.saved.get(task_id, {}))

    # writes
    def paid(self, task: Task, *, model: str, refs: Sequence[ImageRef], cost_usd: float) -> None:
        self._paid[task.id] = (model, refs, cost_usd)

    async def paid_recorded(self, task: Task) -> None:
        model, refs, cost_usd = self._paid.pop(task.id)
        await self._recorder.paid(task, model, refs, cost_usd)

    async def image_saved(self, task: Task, image: SavedImage) -> None:
        await self._recorder.image_saved(task.id, image)

    def attempt_failed(self, task: Task, model: str, attempt: int, error: BatchgenError) -> None:
        self._sent.append(self._recorder.attempt_failed(task, model, attempt, note_of(error)))

    def cost_flagged(self, task: Task, model: str, message: str) -> None:
        note = ErrorNote(COST_FLAG_KIND, None, message)
        self._sent.append(self._recorder.attempt_failed(task, model, 0, note))

    def model_stopped(self, task: Task, model: str, reason: str) -> None:
        note = ErrorNote(MODEL_STOPPED_KIND, None, reason)
        self._sent.append(self._recorder.attempt_failed(task, model, 0, note))

    def finished(self, outcome: Outcome) -> None:
        self._sent.append(self._recorder.finished(outcome))

    # the local engine's timeline and commits: the driver's journal keeps its own
    def settings(self, settings: Mapping[str, Any]) -> None:
        return None

    def sample(
        self, *, in_flight: int, concurrency: int, adaptive: bool, started: int, overloads: int
    ) -> None:
        return None

    def commit_pending(self) -> None:
        return None

    async def commit_periodically(self) -> None:
        return None
