"""`batchgen report A B`: two runs side by side with the ratio B/A, read from their journals
without writing anything into either folder, and the settings that differ between them.

A difference is marked (green/red) only when it is beyond the noise: for latency percentiles,
when the two runs' 95% intervals for that percentile do not overlap (distribution-free, from
each run's per-task spread); for the other figures, when B/A is off by more than THRESHOLD."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any, Literal

from rich.console import Group
from rich.table import Table

from batchgen.report.names import SHOWN_PHASES, Phase
from batchgen.report.read import percentile_intervals, read_summary
from batchgen.report.settings import settings_diff
from batchgen.report.stats import duration_text
from batchgen.report.summary import Summary
from batchgen.store.journal import Journal

Better = Literal["lower", "higher", "neither"]
Unit = Literal["count", "s", "usd", "rate"]
THRESHOLD = 0.05  # B/A within 5% of 1 is the same, where no interval can be estimated
Interval = tuple[float, float]


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What a comparison needs from one run directory: its summary, and 95% intervals of its
    latency percentiles ('request p50' -> (low, high)) for telling noise from a difference."""

    run_dir: Path
    summary: Summary
    intervals: dict[str, Interval] = dataclasses.field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.summary.name} ({self.run_dir})"

    @property
    def settings(self) -> dict[str, Any] | None:
        """The settings of the last run in the folder (None: recorded before they were kept)."""
        last = self.summary.runs[-1].settings if self.summary.runs else None
        return None if last is None else dict(last)


def labels(a: RunFacts, b: RunFacts) -> tuple[str, str]:
    """Distinct names for the two sides: the folder first when the job names are the same."""
    if a.summary.name != b.summary.name:
        return a.label, b.label
    left, right = str(a.run_dir), str(b.run_dir)
    if left == right:  # one folder against itself
        left, right = f"{left} (1)", f"{right} (2)"
    return left, right


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    a: float | None
    b: float | None
    unit: Unit
    better: Better
    a_interval: Interval | None = None  # the 95% interval of A's figure, where one is known
    b_interval: Interval | None = None

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
        return RunFacts(run_dir, read_summary(journal, name=name), percentile_intervals(journal))
    finally:
        journal.close()


def with_noise(rows: list[Row], a: RunFacts, b: RunFacts) -> list[Row]:
    """The rows with each side's interval, where the run could estimate one."""
    return [
        dataclasses.replace(
            row, a_interval=a.intervals.get(row.label), b_interval=b.intervals.get(row.label)
        )
        for row in rows
    ]


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
    """Whether B did better than A on this row, beyond the noise: with both runs' intervals,
    only when they do not overlap; without them, only when B/A is off by more than THRESHOLD."""
    ratio = row.ratio
    if ratio is None or row.better == "neither" or abs(ratio - 1) <= THRESHOLD:
        return "same"
    if row.a_interval is not None and row.b_interval is not None:
        (a_low, a_high), (b_low, b_high) = row.a_interval, row.b_interval
        if a_low <= b_high and b_low <= a_high:
            return "same"
    return "better" if (ratio < 1) == (row.better == "lower") else "worse"


def comparison_table(rows: list[Row], a: RunFacts, b: RunFacts) -> Group:
    """The rows as a terminal table, then the settings that differ."""
    rows = with_noise(rows, a, b)
    a_label, b_label = labels(a, b)
    table = Table(title="batchgen: B against A", title_justify="left")
    table.add_column("")
    table.add_column(f"A: {a_label}", justify="right", overflow="fold")
    table.add_column(f"B: {b_label}", justify="right", overflow="fold")
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
    return Group(table, _settings_table(a, b))


def _settings_table(a: RunFacts, b: RunFacts) -> Table | str:
    if a.settings is None or b.settings is None:
        return "settings: not recorded for both runs (made before batchgen kept them)"
    diff = settings_diff(a.settings, b.settings)
    if not diff:
        return "settings: the same"
    table = Table(title="settings that differ", title_justify="left")
    for header in ("setting", "A", "B"):
        table.add_column(header, overflow="fold")
    for key, left, right in diff:
        table.add_row(key, left, right, style=None)
    return table


def comparison_json(rows: list[Row], a: RunFacts, b: RunFacts) -> dict[str, Any]:
    """The rows for scripts: each metric's A, B and B/A (None where there is no ratio), the
    verdict beyond the noise, and the settings that differ."""
    rows = with_noise(rows, a, b)
    data = [
        {"metric": r.label, "a": r.a, "b": r.b, "b_over_a": r.ratio, "verdict": verdict(r),
         "a_interval": r.a_interval, "b_interval": r.b_interval}
        for r in rows
    ]  # fmt: skip
    a_label, b_label = labels(a, b)
    diff = settings_diff(a.settings, b.settings)
    return {
        "a": str(a.run_dir),
        "b": str(b.run_dir),
        "a_label": a_label,
        "b_label": b_label,
        "rows": data,
        "settings": {"a": a.settings, "b": b.settings},
        "settings_diff": [{"setting": k, "a": left, "b": right} for k, left, right in diff],
    }


def comparison_html(rows: list[Row], a: RunFacts, b: RunFacts) -> str:
    """The same comparison as a self-contained page, with both runs' latency curves."""
    from batchgen.report.charts import latency_cdf  # matplotlib: only when a page is asked for
    from batchgen.report.html import page, table

    rows = with_noise(rows, a, b)
    a_label, b_label = labels(a, b)
    body = "".join(
        f'<tr class="{verdict(row)}"><td>{escape(row.label)}</td>'
        f'<td class="n">{figure_text(row.a, row.unit)}</td>'
        f'<td class="n">{figure_text(row.b, row.unit)}</td>'
        f'<td class="n">{ratio_text(row.ratio)}</td></tr>'
        for row in rows
    )
    figures = (
        f'<table id="comparison"><thead><tr><th></th><th class="n">A: {escape(a_label)}</th>'
        f'<th class="n">B: {escape(b_label)}</th><th class="n">B/A</th></tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )
    diff = settings_diff(a.settings, b.settings)
    settings = (
        table(("setting", f"A: {a_label}", f"B: {b_label}"), diff, set())
        if diff
        else '<p class="note">The recorded settings are the same (or not recorded).</p>'
    )
    curves = [
        dataclasses.replace(item, model=f"{side}: {item.model}")
        for side, facts in (("A", a), ("B", b))
        for item in facts.summary.model_latency
    ]
    note = (
        f'<p class="note">Marked only beyond the noise: latency percentiles whose 95% intervals '
        f"do not overlap, other figures off by more than {THRESHOLD:.0%}.</p>"
    )
    svg = latency_cdf(curves)
    chart = f'<div class="chart">{svg}</div>' if svg else '<p class="note">No latency yet.</p>'
    style = (
        "<style>tr.better td:last-child{color:#067647}tr.worse td:last-child{color:#b42318}</style>"
    )
    return page(
        "batchgen: B against A",
        [style, f'<section id="compare"><h2>Side by side</h2>{figures}{note}</section>',
         f'<section id="settings"><h2>Settings that differ</h2>{settings}</section>',
         f'<section id="latency"><h2>Request latency</h2>{chart}</section>'],
        footer="Read from both runs' journals; <code>batchgen report A B --html OUT</code>.",
    )  # fmt: skip
