"""The small records that cross between driver and workers: chunks of tasks out, notes and
outcomes back (status, timings, cost, object keys), never image bytes (the one exception: a
paid answer's inline base64 images go to the driver's paid log, the only durable place for
bytes that were paid for)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from batchgen.errors import BatchgenError
from batchgen.models import SavedImage, Task
from batchgen.run.engine import RunStatus
from batchgen.store.journal import PendingGeneration

DEFAULT_CHUNK = 64  # tasks per chunk: a worker's share in flight, several times over


@dataclass(frozen=True, slots=True)
class Chunk:
    """Tasks for one worker, with what the journal knows of them: a generation an earlier
    worker paid for (fetched, never paid again), the images of it already saved, and queued
    requests whose results are read instead of asked again."""

    number: int
    tasks: tuple[Task, ...]
    pending: Mapping[str, PendingGeneration] = field(default_factory=dict)
    saved: Mapping[str, Mapping[int, SavedImage]] = field(default_factory=dict)
    # a queued provider's (fal's) requests made and never read: (task id, app) -> their URLs
    queued: Mapping[tuple[str, str], Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Planned:
    """The driver's journal on a batch of tasks: those to render (as a chunk) and those done."""

    chunk: Chunk
    skipped_by_model: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """How a worker's chunk ended (the engine's RunResult, counted for one chunk)."""

    number: int
    status: RunStatus
    reason: str | None
    done: int
    failed: int
    skipped: int


@dataclass(frozen=True, slots=True)
class ErrorNote:
    """A failed attempt as the journal keeps it (the error itself stays on the worker)."""

    kind: str
    status: int | None
    message: str
    billed_usd: float = 0.0


class NotedError(BatchgenError):
    """An ErrorNote as the run log takes it, on the driver's side."""

    def __init__(self, note: ErrorNote) -> None:
        super().__init__(note.message)
        self.kind = note.kind
        self.status = note.status
        self.billed_usd = note.billed_usd


def note_of(error: BatchgenError) -> ErrorNote:
    return ErrorNote(
        kind=getattr(error, "kind", type(error).__name__),
        status=getattr(error, "status", None),
        message=str(error),
        billed_usd=getattr(error, "billed_usd", 0.0),
    )
