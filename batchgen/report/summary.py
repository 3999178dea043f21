"""The typed summary of a job, as read from its journal: report.json, report.html, the comparison
of two runs and the command line are all views of this one frozen record (pure)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from batchgen.report import stats
from batchgen.report.names import HEADLINE_PHASE, Phase


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


NO_LATENCY = Latency(0, None, None, None, None, None, None)


@dataclass(frozen=True, slots=True)
class PhaseLatency:
    """Latency per phase of a task: the request (the headline: time to the answer's headers,
    `ttfb`, then its `body` read and parsed), waiting for a slot or the rate limit (`queue`,
    stored as `wait`), the download, converting the images (`process`: output.format and
    sizes), all of it."""

    wait: Latency
    request: Latency
    download: Latency
    end_to_end: Latency
    ttfb: Latency = NO_LATENCY
    body: Latency = NO_LATENCY
    process: Latency = NO_LATENCY  # output.format/sizes; count 0 when nothing was converted

    @property
    def queue(self) -> Latency:
        return self.wait

    def of(self, phase: Phase) -> Latency:
        latency: Latency = getattr(self, phase)
        return latency

    def to_json(self) -> dict[str, Any]:
        """The first four keys are report.json's since its start; the rest were added."""
        return {
            "wait": self.wait.to_json(),
            "request": self.request.to_json(),
            "download": self.download.to_json(),
            "end_to_end": self.end_to_end.to_json(),
            "queue": self.queue.to_json(),
            "ttfb": self.ttfb.to_json(),
            "body": self.body.to_json(),
            "process": self.process.to_json(),
            "headline": HEADLINE_PHASE,
        }


@dataclass(frozen=True, slots=True)
class ModelLatency:
    """One model's latency per phase, and its CDFs (seconds, fraction done by then): end to
    end, and the request's (the report's chart)."""

    model: str  # the model that rendered (after any fallback)
    latency: PhaseLatency
    cdf: tuple[tuple[float, float], ...]
    request_cdf: tuple[tuple[float, float], ...] = ()

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
    # answers whose reported cost passed the worst case, or was negative or absurd
    flagged: int = 0
    flagged_examples: tuple[str, ...] = ()  # a few distinct messages, with the model

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "per_image": self.per_image,
            "billed_failed_attempts": self.billed_failed_attempts,
            "by_model": dict(self.by_model),
            "by_aspect_ratio": dict(self.by_aspect_ratio),
            "flagged": self.flagged,
            "flagged_examples": list(self.flagged_examples),
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
class TimelinePoint:
    """The engine's state in one bucket of a run (the limiter sampled about once a second)."""

    t_s: float  # start of the bucket, in seconds since the run started
    in_flight: float  # the most requests in flight sampled in the bucket
    limit: float  # the concurrency limit (the last sample in the bucket)
    rate_limited: int  # attempts refused with HTTP 429 in the bucket


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
    timeline: tuple[TimelinePoint, ...] = ()
    settings: Mapping[str, Any] | None = None  # None: a run from before settings were kept

    @property
    def rate_limited(self) -> int:
        return sum(point.rate_limited for point in self.timeline)

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
            "settings": None if self.settings is None else dict(self.settings),
            "timeline": [
                {"t_s": p.t_s, "in_flight": p.in_flight, "limit": p.limit,
                 "rate_limited": p.rate_limited}
                for p in self.timeline
            ],
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """The run's cap and what the whole job has spent by the journal (killed runs included)."""

    max_usd: float
    scope: str  # "run": the cap was this run's; "job": every run's together
    job_spent_usd: float

    def to_json(self) -> dict[str, Any]:
        return {"max_usd": self.max_usd, "scope": self.scope, "job_spent_usd": self.job_spent_usd}


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
    budget: BudgetStatus | None = None  # None: no cap (or a report rebuilt without the manifest)
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
            "cost_usd": {  # the cap beside the spend: report.json's keys stay as they were
                **self.cost_usd.to_json(),
                "budget": self.budget.to_json() if self.budget else None,
            },
            "errors": self.errors.to_json(),
            "runs": [run.to_json() for run in self.runs],
        } | (
            {"batch_turnaround_s": self.batch_turnaround_s.to_json()}
            if self.batch_turnaround_s is not None
            else {}
        )
