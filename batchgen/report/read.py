"""Every query of the journal's tables that the report makes: the typed Summary, and the per-task
streams (tasks.csv's rows, the gallery's) that are too big to hold. Nothing else in report/
writes SQL but its sibling read_runs.py (each run's record, timeline and settings); the journal
gives the primitives (`Journal.query`, `Journal.iter_query`)."""

from __future__ import annotations

import itertools
import time
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from batchgen.models import Task
from batchgen.report import stats
from batchgen.report.names import COST_FLAG_KIND, MEASURED_PHASES, PHASES, Phase
from batchgen.report.read_runs import columns, read_runs
from batchgen.report.summary import (
    BudgetStatus,
    CostCell,
    Costs,
    ErrorExample,
    Errors,
    ImageCounts,
    Latency,
    ModelLatency,
    PhaseLatency,
    Summary,
    TaskCounts,
)
from batchgen.store.journal import Journal

MODEL = "COALESCE(model_used, model)"  # the model that rendered (after any fallback)
DONE_IMAGES = (
    "SELECT COUNT(*) FROM images i JOIN tasks t ON t.id = i.task_id WHERE t.status = 'done'"
)
EXAMPLES_PER_KIND = 3
DONE_BATCH = 500  # task ids per look-up when `plan` counts what is done
NOT_FLAGS = f"WHERE kind != '{COST_FLAG_KIND}'"  # cost flags share the errors table
EXAMPLE_SCAN_ROWS = 10_000  # enough to find a few distinct messages; bounded for huge journals
CSV_COLUMNS = (
    "id", "ordinal", "status", "model", "model_used", "aspect_ratio", "seed", "num_images",
    "image_count", "prompt", "attempts", "wait_s", "request_s", "download_s", "total_s",
    "cost_usd", "error_kind", "error_message", "row_id", "process_s",
)  # fmt: skip


def read_summary(
    journal: Journal,
    *,
    name: str,
    generated_at: float | None = None,
    budget: tuple[float, str] | None = None,
) -> Summary:
    """Everything the report says, from the journal (so reruns cover the whole job);
    `budget`: the cap and its scope, shown against the job's spend."""
    runs = read_runs(journal)
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
        budget=BudgetStatus(budget[0], budget[1], job_spend_usd(journal)) if budget else None,
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
    """Each phase over every done task and per model, from one pass sorted by SQLite (exact
    percentiles). ttfb and body count only the tasks that have them (older journals do not)."""
    overall: dict[Phase, Latency] = {}
    per_model: dict[str, dict[Phase, Latency]] = {}
    curves: dict[str, dict[Phase, tuple[tuple[float, float], ...]]] = {}
    present = columns(journal, "tasks")
    for phase, column in PHASES.items():
        if column not in present:
            continue
        everything, by_model = sorted_values(journal, column, measured=phase in MEASURED_PHASES)
        overall[phase] = Latency.of(everything)
        del everything
        while by_model:  # one model's values are dropped before the next is summed up
            model, values = by_model.popitem()
            per_model.setdefault(model, {})[phase] = Latency.of(values)
            if phase in ("end_to_end", "request"):
                curves.setdefault(model, {})[phase] = stats.cdf(values)
    models = tuple(
        ModelLatency(
            model,
            PhaseLatency(**per_model[model]),
            curves[model]["end_to_end"],
            curves[model]["request"],
        )
        for model in sorted(per_model)
    )
    return PhaseLatency(**overall), models


def sorted_values(
    journal: Journal, column: str, *, measured: bool = False
) -> tuple[array[float], dict[str, array[float]]]:
    """One phase's values over done tasks, sorted, overall and by model. `measured`: leave out
    tasks with no value (else a missing value counts as 0, as ever)."""
    # Rows come sorted, so every array is sorted as it fills; compact arrays (8 bytes a value)
    # keep a million tasks at 16 MB here, not hundreds.
    everything: array[float] = array("d")
    by_model: dict[str, array[float]] = {}
    where = f" AND {column} IS NOT NULL" if measured else ""
    for model, value in journal.iter_query(
        f"SELECT {MODEL}, COALESCE({column}, 0) FROM tasks WHERE status = 'done'{where} ORDER BY 2"
    ):
        everything.append(value)
        values = by_model.get(model)
        if values is None:
            values = by_model[model] = array("d")
        values.append(value)
    return everything, by_model


def percentile_intervals(
    journal: Journal, qs: tuple[float, ...] = (50, 90, 99)
) -> dict[str, tuple[float, float]]:
    """95% intervals of each phase's percentiles over done tasks ('request p50' -> (lo, hi)):
    the run-to-run noise a comparison allows before it marks a difference."""
    present = columns(journal, "tasks")
    found: dict[str, tuple[float, float]] = {}
    for phase, column in PHASES.items():
        if column not in present:
            continue
        values, _ = sorted_values(journal, column, measured=phase in MEASURED_PHASES)
        for q in qs:
            interval = stats.quantile_interval(values, q)
            if interval is not None:
                found[f"{phase.replace('_', '-')} p{q:g}"] = interval
                if phase == "wait":  # shown as queue
                    found[f"queue p{q:g}"] = interval
    return found


def _costs(journal: Journal, images: int) -> Costs:
    total = journal.query("SELECT COALESCE(SUM(cost_usd), 0) FROM tasks")[0][0]
    billed = journal.query(f"SELECT COALESCE(SUM(billed_usd), 0) FROM errors {NOT_FLAGS}")[0][0]
    flagged = journal.query("SELECT COUNT(*) FROM errors WHERE kind = ?", (COST_FLAG_KIND,))[0][0]
    examples = journal.query(
        "SELECT DISTINCT model || ': ' || message FROM errors WHERE kind = ? LIMIT ?",
        (COST_FLAG_KIND, EXAMPLES_PER_KIND),
    )
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
        flagged=flagged,
        flagged_examples=tuple(row[0] for row in examples),
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
        f"SELECT kind, COUNT(*), MAX(message) FROM errors {NOT_FLAGS}"
        " GROUP BY kind ORDER BY COUNT(*) DESC"
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


def task_rows(journal: Journal) -> Iterator[tuple[object, ...]]:
    """tasks.csv's rows in job order: CSV_COLUMNS, then the task's files joined by ';'. A
    column an older journal lacks (read-only: not migrated) reads empty."""
    present = columns(journal, "tasks")
    cells = ", ".join(f"t.{c}" if c in present else "NULL" for c in CSV_COLUMNS)
    yield from journal.iter_query(
        f"SELECT {cells},"
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
       i.width, i.height, i.bytes, i.sha256, i.path, i.mime_type, t.prompt, NULL, i.variants,
       t.row
FROM tasks t JOIN images i ON i.task_id = t.id
WHERE t.status = 'done'
ORDER BY t.ordinal, i.idx
"""
_ROW_KEYS = "SELECT DISTINCT j.key FROM tasks t, json_each(t.row) j WHERE t.status = 'done'"


def index_rows(journal: Journal) -> Iterator[tuple[Any, ...]]:
    """Every rendered image: INDEX_COLUMNS, then its derived files (JSON, or None: see
    store/variants.py), then the row's fields as JSON (streamed)."""
    return journal.iter_query(_IMAGES)


def index_row_keys(journal: Journal) -> list[str]:
    """The field names of every rendered row, sorted (index.csv's row.* columns)."""
    return sorted(str(key) for (key,) in journal.iter_query(_ROW_KEYS))


def done_by_model(journal: Journal, tasks: Iterable[Task]) -> dict[str, int]:
    """How many of these tasks the journal holds as done, by the task's model (for `plan`)."""
    counts: dict[str, int] = {}
    iterator = iter(tasks)
    while batch := list(itertools.islice(iterator, DONE_BATCH)):
        done = journal.done_among([task.id for task in batch])
        for task in batch:
            if task.id in done:
                counts[task.model] = counts.get(task.model, 0) + 1
    return counts


def job_spend_usd(journal: Journal) -> float:
    """What every run of the job has spent: tasks' costs (billed failed attempts included),
    generations paid for whose task is not yet recorded, and billed failed attempts of tasks
    not recorded in the run that made them (a task killed mid-way). A billed attempt of a task
    recorded again in a later run may count twice: for a cap, too much is the safe side.
    Rounded to nano-dollars: SQLite sums in row order, and the same spend read after another
    run must not come out a last bit smaller (0.462 as 0.46199999999999997, then 0.4619...9)."""
    total = float(
        journal.query(
            "SELECT (SELECT COALESCE(SUM(cost_usd), 0) FROM tasks)"
            " + (SELECT COALESCE(SUM(cost_usd), 0) FROM generations)"
            " + (SELECT COALESCE(SUM(e.billed_usd), 0) FROM errors e WHERE NOT EXISTS"
            "   (SELECT 1 FROM tasks t WHERE t.id = e.task_id AND t.run_id = e.run_id)"
            "   AND NOT EXISTS (SELECT 1 FROM generations g"
            "   WHERE g.task_id = e.task_id AND g.run_id = e.run_id))"
        )[0][0]
    )
    return round(total, 9)
