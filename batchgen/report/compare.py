"""`batchgen report A B`: two runs side by side with the ratio B/A, read from their journals
without writing anything into either folder."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any, Literal

from rich.table import Table

from batchgen.report.names import SHOWN_PHASES, Phase
from batchgen.report.read import read_summary
from batchgen.report.stats import duration_text
from batchgen.report.summary import Summary
from batchgen.store.journal import Journal

Better = Literal["lower", "higher", "neither"]
Unit = Literal["count", "s", "usd", "rate"]


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What a comparison needs from one run directory."""

    run_dir: Path
    summary: Summary

    @property
    def label(self) -> str:
        return f"{self.summary.name} ({self.run_dir})"


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    a: float | None
    b: float | None
    unit: Unit
    better: Better

    @property
    def ratio(self) -> float | None:
        """B/A, or None when A is zero or either side has no value."""
        if self.a is None or self.b is None or self.a == 0:
            return None
        return self.b / self.a


def read_run(run_dir: Path) -> RunFacts:
    journal = Journal.open_readonly(run_dir)
    try:
        name = journal.meta("name") or run_dir.name
        return RunFacts(run_dir, read_summary(journal, name=name))
    finally:
        journal.close()


def comparison_rows(a: Summary, b: Summary) -> list[Row]:
    """Throughput, latency percentiles per phase, cost and failures of two summaries."""

    def row(label: str, get: Callable[[Summary], float | None], unit: Unit, better: Better) -> Row:
        return Row(label, get(a), get(b), unit, better)

    rows = [
        row("tasks rendered", lambda s: s.tasks.done, "count", "neither"),
        row("images", lambda s: s.images.count, "count", "neither"),
        row("wall time", lambda s: s.wall_s, "s", "lower"),
        row("images / s", lambda s: s.images_per_s, "rate", "higher"),
    ]
    rows += [
        row(f"{phase.replace('_', '-')} {q}", _latency(phase, q), "s", "lower")
        for phase in SHOWN_PHASES
        for q in ("p50", "p90", "p99")
    ]
    return [
        *rows,
        row("cost", lambda s: s.cost_usd.total, "usd", "lower"),
        row("cost per image", lambda s: s.cost_usd.per_image, "usd", "lower"),
        row("failed tasks", lambda s: s.tasks.failed, "count", "lower"),
        row("failed attempts", lambda s: sum(s.errors.attempts_by_kind.values()), "count",
            "lower"),
    ]  # fmt: skip


def _latency(phase: Phase, q: Literal["p50", "p90", "p99"]) -> Callable[[Summary], float | None]:
    return lambda s: getattr(s.latency_s.of(phase), q)


def figure_text(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "usd":
        return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"
    if unit == "rate":
        return f"{value:,.2f}"
    return duration_text(value)


def ratio_text(ratio: float | None) -> str:
    return "–" if ratio is None else f"{ratio:.3g}×"


def verdict(row: Row) -> Literal["better", "worse", "same"]:
    """Whether B did better than A on this row (a 2% band counts as the same)."""
    ratio = row.ratio
    if ratio is None or row.better == "neither" or abs(ratio - 1) <= 0.02:
        return "same"
    return "better" if (ratio < 1) == (row.better == "lower") else "worse"


def comparison_table(rows: list[Row], a: RunFacts, b: RunFacts) -> Table:
    table = Table(title="batchgen: B against A", title_justify="left")
    table.add_column("")
    table.add_column(f"A: {a.label}", justify="right", overflow="fold")
    table.add_column(f"B: {b.label}", justify="right", overflow="fold")
    table.add_column("B/A", justify="right")
    styles = {"better": "green", "worse": "red", "same": ""}
    for row in rows:
        ratio = ratio_text(row.ratio)
        table.add_row(
            row.label,
            figure_text(row.a, row.unit),
            figure_text(row.b, row.unit),
            f"[{styles[verdict(row)]}]{ratio}" if styles[verdict(row)] else ratio,
        )
    return table


def comparison_json(rows: list[Row], a: RunFacts, b: RunFacts) -> dict[str, Any]:
    """The rows for scripts: each metric's A, B and B/A (None where there is no ratio)."""
    data = [{"metric": r.label, "a": r.a, "b": r.b, "b_over_a": r.ratio} for r in rows]
    return {"a": str(a.run_dir), "b": str(b.run_dir), "rows": data}


def comparison_html(rows: list[Row], a: RunFacts, b: RunFacts) -> str:
    """The same comparison as a self-contained page, with both runs' latency curves."""
    from batchgen.report.charts import latency_cdf  # matplotlib: only when a page is asked for
    from batchgen.report.html import page

    body = "".join(
        f'<tr class="{verdict(row)}"><td>{escape(row.label)}</td>'
        f'<td class="n">{figure_text(row.a, row.unit)}</td>'
        f'<td class="n">{figure_text(row.b, row.unit)}</td>'
        f'<td class="n">{ratio_text(row.ratio)}</td></tr>'
        for row in rows
    )
    table = (
        f'<table id="comparison"><thead><tr><th></th><th class="n">A: {escape(a.label)}</th>'
        f'<th class="n">B: {escape(b.label)}</th><th class="n">B/A</th></tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )
    curves = [
        dataclasses.replace(item, model=f"{side}: {item.model}")
        for side, facts in (("A", a), ("B", b))
        for item in facts.summary.model_latency
    ]
    svg = latency_cdf(curves)
    chart = f'<div class="chart">{svg}</div>' if svg else '<p class="note">No latency yet.</p>'
    style = (
        "<style>tr.better td:last-child{color:#067647}tr.worse td:last-child{color:#b42318}</style>"
    )
    return page(
        "batchgen: B against A",
        [style, f'<section id="compare"><h2>Side by side</h2>{table}</section>',
         f'<section id="latency"><h2>End-to-end latency</h2>{chart}</section>'],
        footer="Read from both runs' journals; <code>batchgen report A B --html OUT</code>.",
    )  # fmt: skip
