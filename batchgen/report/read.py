"""Every query of the journal's tables that the report makes: the typed Summary, and the per-task
streams (tasks.csv's rows, the gallery's) that are too big to hold. Nothing else in report/
writes SQL; the journal gives the primitives (`Journal.query`, `Journal.iter_query`)."""

from __future__ import annotations

import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from batchgen.report import stats
from batchgen.report.names import PHASES, Phase
from batchgen.report.summary import (
    CostCell,
    Costs,
    ErrorExample,
    Errors,
    ImageCounts,
    Latency,
    ModelLatency,
    PhaseLatency,
    RunRecord,
    Summary,
    TaskCounts,
    ThroughputPoint,
)
from batchgen.store.journal import Journal

MODEL = "COALESCE(model_used, model)"  # the model that rendered (after any fallback)
DONE_IMAGES = (
    "SELECT COUNT(*) FROM images i JOIN tasks t ON t.id = i.task_id WHERE t.status = 'done'"
)
EXAMPLES_PER_KIND = 3
EXAMPLE_SCAN_ROWS = 10_000  # enough to find a few distinct messages; bounded for huge journals
CSV_COLUMNS = (
    "id", "ordinal", "status", "model", "model_used", "aspect_ratio", "seed", "num_images",
    "image_count", "prompt", "attempts", "wait_s", "request_s", "download_s", "total_s",
    "cost_usd", "error_kind", "error_message", "row_id",
)  # fmt: skip


def read_summary(journal: Journal, *, name: str, generated_at: float | None = None) -> Summary:
    """Everything the report says, from the journal (so reruns cover the whole job)."""
    runs = _runs(journal)
    done, failed, images, size = _counts(journal)
    wall_s = sum(run.wall_s or 0.0 for run in runs)
    planned = runs[-1].planned if runs else 0
    latency, by_model = _latency(journal)
    return Summary(
        name=name,
        generated_at=time.time() if generated_at is None else generated_at,
        tasks=TaskCounts(planned, done, failed, max(planned - done - failed, 0)),
        images=ImageCounts(images, size),
        wall_s=wall_s,
        images_per_s=stats.rate(images, wall_s),
        latency_s=latency,
        cost_usd=_costs(journal, images),
        errors=_errors(journal),
        runs=runs,
        model_latency=by_model,
        batch_turnaround_s=_turnaround(journal),
    )


def _turnaround(journal: Journal) -> Latency | None:
    """Seconds from each collected batch's submission to its results (None: no batches)."""
    spans = sorted(
        record.ended_at - (record.submitted_at or record.created_at)
        for record in journal.batches()
        if record.collected and record.ended_at is not None
    )
    return Latency.of(spans) if spans else None


def _counts(journal: Journal) -> tuple[int, int, int, int]:
    """Tasks done and failed; images of done tasks and their bytes."""
    done, failed, images, size = journal.query(
        "SELECT COALESCE(SUM(status = 'done'), 0), COALESCE(SUM(status = 'failed'), 0),"
        f" ({DONE_IMAGES}),"
        " (SELECT COALESCE(SUM(i.bytes), 0) FROM images i JOIN tasks t ON t.id = i.task_id"
        "  WHERE t.status = 'done') FROM tasks"
    )[0]
    return done, failed, images, size


def _latency(journal: Journal) -> tuple[PhaseLatency, tuple[ModelLatency, ...]]:
    """Each phase over every done task and per model, from one pass sorted by SQLite."""
    overall: dict[Phase, Latency] = {}
    per_model: dict[str, dict[Phase, Latency]] = {}
    curves: dict[str, tuple[tuple[float, float], ...]] = {}
    for phase, column in PHASES.items():
        everything, by_model = _sorted_values(journal, column)
        overall[phase] = Latency.of(everything)
        del everything
        while by_model:  # one model's values are dropped before the next is summed up
            model, values = by_model.popitem()
            per_model.setdefault(model, {})[phase] = Latency.of(values)
            if phase == "end_to_end":
                curves[model] = stats.cdf(values)
    models = tuple(
        ModelLatency(model, PhaseLatency(**per_model[model]), curves[model])
        for model in sorted(per_model)
    )
    return PhaseLatency(**overall), models


def _sorted_values(journal: Journal, column: str) -> tuple[array[float], dict[str, array[float]]]:
    # Rows come sorted, so every array is sorted as it fills; compact arrays (8 bytes a value)
    # keep a million tasks at 16 MB here, not hundreds.
    everything: array[float] = array("d")
    by_model: dict[str, array[float]] = {}
    for model, value in journal.iter_query(
        f"SELECT {MODEL}, COALESCE({column}, 0) FROM tasks WHERE status = 'done' ORDER BY 2"
    ):
        everything.append(value)
        values = by_model.get(model)
        if values is None:
            values = by_model[model] = array("d")
        values.append(value)
    return everything, by_model


def _costs(journal: Journal, images: int) -> Costs:
    total = journal.query("SELECT COALESCE(SUM(cost_usd), 0) FROM tasks")[0][0]
    billed = journal.query("SELECT COALESCE(SUM(billed_usd), 0) FROM errors")[0][0]
    by_model, by_aspect = (
        dict(journal.iter_query(f"SELECT {key}, SUM(cost_usd) FROM tasks GROUP BY 1 ORDER BY 1"))
        for key in (MODEL, "aspect_ratio")
    )
    return Costs(
        total=total,
        per_image=total / images if images else None,
        billed_failed_attempts=billed,
        by_model=by_model,
        by_aspect_ratio=by_aspect,
        cells=_cost_cells(journal),
    )


def _cost_cells(journal: Journal) -> tuple[CostCell, ...]:
    """Cost, images and tasks for every (model, aspect ratio) pair that has tasks."""
    rows = journal.query(
        f"SELECT {MODEL}, aspect_ratio, COALESCE(SUM(cost_usd), 0),"
        " COALESCE(SUM(CASE WHEN status = 'done' THEN image_count ELSE 0 END), 0), COUNT(*)"
        " FROM tasks GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return tuple(CostCell(*row) for row in rows)


def _errors(journal: Journal) -> Errors:
    attempts = journal.query(
        "SELECT kind, COUNT(*), MAX(message) FROM errors GROUP BY kind ORDER BY COUNT(*) DESC"
    )
    failed = journal.iter_query(
        "SELECT error_kind, COUNT(*) FROM tasks WHERE status = 'failed' GROUP BY error_kind"
    )
    return Errors(
        attempts_by_kind={kind: count for kind, count, _ in attempts},
        failed_tasks_by_kind=dict(failed),
        examples={kind: message for kind, _, message in attempts},
        samples={kind: _samples(journal, kind) for kind, _, _ in attempts},
    )


def _samples(journal: Journal, kind: str) -> tuple[ErrorExample, ...]:
    """A few distinct messages of one error kind, with the model and the task's prompt."""
    rows = journal.iter_query(
        "SELECT e.model, e.status, COALESCE(e.message, ''), t.prompt FROM errors e"
        " LEFT JOIN tasks t ON t.id = e.task_id WHERE e.kind = ? LIMIT ?",
        (kind, EXAMPLE_SCAN_ROWS),
    )
    found: dict[str, ErrorExample] = {}
    for model, status, message, prompt in rows:
        found.setdefault(message, ErrorExample(model, status, message, prompt))
        if len(found) == EXAMPLES_PER_KIND:
            break
    return tuple(found.values())


def _runs(journal: Journal) -> tuple[RunRecord, ...]:
    rows = journal.query(
        "SELECT id, started_at, finished_at, wall_s, planned, status FROM runs ORDER BY id"
    )
    return tuple(_run(journal, *row) for row in rows)


def _run(
    journal: Journal,
    run_id: int,
    started_at: float,
    finished_at: float | None,
    wall_s: float | None,
    planned: int,
    status: str,
) -> RunRecord:
    done = "FROM tasks WHERE run_id = ? AND status = 'done'"
    tasks, images = journal.query(
        f"SELECT COUNT(*), COALESCE(SUM(image_count), 0) {done}", (run_id,)
    )[0]
    seconds = wall_s or 0.0
    finished = journal.iter_query(f"SELECT finished_at, image_count {done}", (run_id,))
    series = stats.throughput_series(finished, start=started_at, width=stats.bucket_width(seconds))
    return RunRecord(
        id=run_id,
        started_at=started_at,
        finished_at=finished_at,
        wall_s=wall_s,
        planned=planned,
        status=status,
        tasks_done=tasks,
        images=images,
        images_per_s=stats.rate(images, seconds),
        throughput=tuple(ThroughputPoint(p["t_s"], p["images_per_s"]) for p in series),
    )


def task_rows(journal: Journal) -> Iterator[tuple[object, ...]]:
    """tasks.csv's rows in job order: CSV_COLUMNS, then the task's files joined by ';'."""
    yield from journal.iter_query(
        f"SELECT {', '.join('t.' + c for c in CSV_COLUMNS)},"
        " (SELECT GROUP_CONCAT(path, ';') FROM images i WHERE i.task_id = t.id)"
        " FROM tasks t ORDER BY t.ordinal"
    )


@dataclass(frozen=True, slots=True)
class GalleryRow:
    """One image of a task (or the task alone, when it has none), in job order."""

    prompt: str
    task_id: str
    model: str  # the model that rendered (after any fallback)
    aspect_ratio: str
    status: str
    total_s: float | None
    cost_usd: float
    error_kind: str | None
    index: int | None
    path: str | None


def gallery_rows(journal: Journal) -> Iterator[GalleryRow]:
    """Every task with each of its images, in job order (streamed: a job may have millions)."""
    rows = journal.iter_query(
        f"SELECT t.prompt, t.id, {MODEL}, t.aspect_ratio, t.status,"
        " t.total_s, t.cost_usd, t.error_kind, i.idx, i.path FROM tasks t"
        " LEFT JOIN images i ON i.task_id = t.id ORDER BY t.ordinal, t.id, i.idx"
    )
    for row in rows:
        yield GalleryRow(*row)


def gallery_totals(journal: Journal) -> tuple[int, int]:
    """Images of rendered tasks, and distinct prompts."""
    images, prompts = journal.query(
        f"SELECT ({DONE_IMAGES}), (SELECT COUNT(DISTINCT prompt) FROM tasks)"
    )[0]
    return images, prompts


INDEX_COLUMNS = (  # index.jsonl / index.csv, in the order index_rows() reads them
    "task_id", "index", "row_id", "model", "aspect_ratio", "seed", "width", "height", "bytes",
    "sha256", "path", "mime_type", "prompt", "revised_prompt",
)  # fmt: skip
# Done tasks' images in job order; model is the one that made it (a fallback, maybe).
_IMAGES = """
SELECT t.id, i.idx, t.row_id, COALESCE(t.model_used, t.model), t.aspect_ratio, t.seed,
       i.width, i.height, i.bytes, i.sha256, i.path, i.mime_type, t.prompt, NULL, t.row
FROM tasks t JOIN images i ON i.task_id = t.id
WHERE t.status = 'done'
ORDER BY t.ordinal, i.idx
"""
_ROW_KEYS = "SELECT DISTINCT j.key FROM tasks t, json_each(t.row) j WHERE t.status = 'done'"


def index_rows(journal: Journal) -> Iterator[tuple[Any, ...]]:
    """Every rendered image: INDEX_COLUMNS, then the row's fields as JSON (streamed)."""
    return journal.iter_query(_IMAGES)


def index_row_keys(journal: Journal) -> list[str]:
    """The field names of every rendered row, sorted (index.csv's row.* columns)."""
    return sorted(str(key) for (key,) in journal.iter_query(_ROW_KEYS))
