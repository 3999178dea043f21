"""The typed summary of a job, as read from its journal: report.json, report.html, the comparison
of two runs and the command line are all views of this one frozen record (pure)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from batchgen.report import stats
from batchgen.report.names import Phase


@dataclass(frozen=True, slots=True)
class Latency:
    """One phase's latency over tasks: count, mean, percentiles and max (None when no task)."""

    count: int
    mean: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    max: float | None

    @classmethod
    def of(cls, ordered: Sequence[float]) -> Latency:
        """From values already sorted ascending."""
        if not ordered:
            return cls(0, None, None, None, None, None, None)
        p50, p90, p95, p99 = (stats.percentile(ordered, q) for q in stats.PERCENTILES)
        mean = math.fsum(ordered) / len(ordered)
        return cls(len(ordered), mean, p50, p90, p95, p99, ordered[-1])

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean": self.mean,
            "p50": self.p50,
            "p90": self.p90,
            "p95": self.p95,
            "p99": self.p99,
            "max": self.max,
        }


@dataclass(frozen=True, slots=True)
class PhaseLatency:
    """Latency per phase of a task: waiting for a slot, the request, the download, all of it."""

    wait: Latency
    request: Latency
    download: Latency
    end_to_end: Latency

    def of(self, phase: Phase) -> Latency:
        latency: Latency = getattr(self, phase)
        return latency

    def to_json(self) -> dict[str, Any]:
        return {
            "wait": self.wait.to_json(),
            "request": self.request.to_json(),
            "download": self.download.to_json(),
            "end_to_end": self.end_to_end.to_json(),
        }


@dataclass(frozen=True, slots=True)
class ModelLatency:
    """One model's latency per phase, and its end-to-end CDF (seconds, fraction done by then)."""

    model: str  # the model that rendered (after any fallback)
    latency: PhaseLatency
    cdf: tuple[tuple[float, float], ...]

    @property
    def count(self) -> int:
        return self.latency.end_to_end.count


@dataclass(frozen=True, slots=True)
class CostCell:
    """Cost, images and tasks of one (model, aspect ratio) pair."""

    model: str
    aspect_ratio: str
    cost_usd: float
    images: int
    tasks: int


@dataclass(frozen=True, slots=True)
class Costs:
    total: float
    per_image: float | None  # None: no image yet
    billed_failed_attempts: float
    by_model: Mapping[str, float]
    by_aspect_ratio: Mapping[str, float]
    cells: tuple[CostCell, ...] = ()  # by model and aspect ratio (the page's table; not in JSON)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "per_image": self.per_image,
            "billed_failed_attempts": self.billed_failed_attempts,
            "by_model": dict(self.by_model),
            "by_aspect_ratio": dict(self.by_aspect_ratio),
        }


@dataclass(frozen=True, slots=True)
class ErrorExample:
    """One failed attempt as the page shows it: the model, HTTP status, message, the prompt."""

    model: str | None
    status: int | None
    message: str
    prompt: str | None


@dataclass(frozen=True, slots=True)
class Errors:
    attempts_by_kind: Mapping[str, int]  # failed attempts (retried or not), most frequent first
    failed_tasks_by_kind: Mapping[str, int]
    examples: Mapping[str, str]  # one message per kind
    # a few distinct failed attempts per kind (the page's examples; not in JSON)
    samples: Mapping[str, tuple[ErrorExample, ...]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "attempts_by_kind": dict(self.attempts_by_kind),
            "failed_tasks_by_kind": dict(self.failed_tasks_by_kind),
            "examples": dict(self.examples),
        }


@dataclass(frozen=True, slots=True)
class TaskCounts:
    planned: int  # by the last run
    done: int
    failed: int
    pending: int

    def to_json(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "done": self.done,
            "failed": self.failed,
            "pending": self.pending,
        }


@dataclass(frozen=True, slots=True)
class ImageCounts:
    count: int  # images of rendered tasks
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "bytes": self.bytes}


@dataclass(frozen=True, slots=True)
class ThroughputPoint:
    t_s: float  # start of the bucket, in seconds since the run started
    images_per_s: float


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run (one `batchgen run` of the job) as the journal holds it, with what it rendered."""

    id: int
    started_at: float
    finished_at: float | None  # None: still running, or killed
    wall_s: float | None
    planned: int
    status: str
    tasks_done: int
    images: int
    images_per_s: float
    throughput: tuple[ThroughputPoint, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "wall_s": self.wall_s,
            "planned": self.planned,
            "status": self.status,
            "tasks_done": self.tasks_done,
            "images": self.images,
            "images_per_s": self.images_per_s,
            "throughput": [{"t_s": p.t_s, "images_per_s": p.images_per_s} for p in self.throughput],
        }


@dataclass(frozen=True, slots=True)
class Summary:
    """A whole job across its runs: counts, wall time, speed, latency, cost, errors, runs.

    `to_json()` is report.json; `model_latency`, `cost_usd.cells` and `errors.samples` are what
    report.html shows beyond it."""

    name: str
    generated_at: float
    tasks: TaskCounts
    images: ImageCounts
    wall_s: float  # the sum of every run's wall time
    images_per_s: float  # over wall_s
    latency_s: PhaseLatency
    cost_usd: Costs
    errors: Errors
    runs: tuple[RunRecord, ...]
    model_latency: tuple[ModelLatency, ...] = ()  # by the model that rendered, sorted by name
    # mode: batch: submission -> results of each collected batch, apart from request latency
    batch_turnaround_s: Latency | None = None

    def to_json(self) -> dict[str, Any]:
        """report.json: these keys, in this order, are the file's contract with its readers."""
        return {
            "name": self.name,
            "generated_at": self.generated_at,
            "tasks": self.tasks.to_json(),
            "images": self.images.to_json(),
            "wall_s": self.wall_s,
            "images_per_s": self.images_per_s,
            "latency_s": self.latency_s.to_json(),
            "cost_usd": self.cost_usd.to_json(),
            "errors": self.errors.to_json(),
            "runs": [run.to_json() for run in self.runs],
        } | (
            {"batch_turnaround_s": self.batch_turnaround_s.to_json()}
            if self.batch_turnaround_s is not None
            else {}
        )
