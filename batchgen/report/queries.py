"""What report.html shows beyond report.json, read from the journal: latency per model, cost by
model and aspect ratio, examples of each error kind."""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass

from batchgen.report import stats
from batchgen.report.files import PHASES
from batchgen.store.journal import Journal

MODEL = "COALESCE(model_used, model)"  # the model that rendered (after any fallback)
TABLE = (50.0, 90.0, 99.0, 100.0)  # p50, p90, p99, max
CDF_QUANTILES = tuple(q / 2 for q in range(201))  # every half percent: a smooth curve, 201 points
EXAMPLES_PER_KIND = 3
EXAMPLE_SCAN_ROWS = 10_000  # enough to find a few distinct messages; bounded for huge journals


@dataclass(frozen=True, slots=True)
class ModelLatency:
    """One model's latency: p50/p90/p99/max per phase, and its end-to-end CDF."""

    model: str
    count: int
    phases: dict[str, dict[str, float]]
    cdf: list[tuple[float, float]]  # (seconds, fraction of tasks done by then)


@dataclass(frozen=True, slots=True)
class CostCell:
    model: str
    aspect_ratio: str
    cost_usd: float
    images: int
    tasks: int


@dataclass(frozen=True, slots=True)
class ErrorExample:
    model: str | None
    status: int | None
    message: str
    prompt: str | None


def model_latency(journal: Journal) -> list[ModelLatency]:
    """Per phase, one unsorted pass into a compact array per model (8 bytes a task), each sorted
    in turn: a million tasks take seconds and a few tens of MB, whatever the number of phases."""
    phases: dict[str, dict[str, dict[str, float]]] = {}
    curves: dict[str, list[tuple[float, float]]] = {}
    counts: dict[str, int] = {}
    for phase, column in PHASES.items():
        for model, ordered in _sorted_by_model(journal, column):
            table = zip(("p50", "p90", "p99", "max"), _at(ordered, TABLE), strict=True)
            phases.setdefault(model, {})[phase] = dict(table)
            counts[model] = len(ordered)
            if phase == "end_to_end":
                quantiles = cdf_quantiles(len(ordered))
                fractions = [q / 100 for q in quantiles]
                curves[model] = list(zip(_at(ordered, quantiles), fractions, strict=True))
    return [
        ModelLatency(model, counts[model], phases[model], curves[model]) for model in sorted(phases)
    ]


def _sorted_by_model(journal: Journal, column: str) -> Iterator[tuple[str, array[float]]]:
    by_model: dict[str, array[float]] = {}
    for model, value in journal.iter_query(
        f"SELECT {MODEL}, COALESCE({column}, 0) FROM tasks WHERE status = 'done'"
    ):
        by_model.setdefault(model, array("d")).append(value)
    while by_model:  # one model's unsorted copy is dropped before the next is sorted
        model, values = by_model.popitem()
        yield model, array("d", sorted(values))


def cdf_quantiles(count: int) -> tuple[float, ...]:
    """Where to sample the curve: every task when there are few, else every half percent."""
    if count > len(CDF_QUANTILES):
        return CDF_QUANTILES
    return tuple(100 * rank / max(count - 1, 1) for rank in range(count))


def _at(ordered: array[float], quantiles: tuple[float, ...]) -> list[float]:
    return [stats.percentile(ordered, q) for q in quantiles]


def cost_cells(journal: Journal) -> list[CostCell]:
    """Cost, images and tasks for every (model, aspect ratio) pair that has tasks."""
    rows = journal.query(
        f"SELECT {MODEL}, aspect_ratio, COALESCE(SUM(cost_usd), 0),"
        " COALESCE(SUM(CASE WHEN status = 'done' THEN image_count ELSE 0 END), 0), COUNT(*)"
        " FROM tasks GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return [CostCell(*row) for row in rows]


def error_examples(journal: Journal, kinds: list[str]) -> dict[str, list[ErrorExample]]:
    """A few distinct messages for each error kind, with the model and the task's prompt."""
    return {kind: _examples(journal, kind) for kind in kinds}


def _examples(journal: Journal, kind: str) -> list[ErrorExample]:
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
    return list(found.values())
