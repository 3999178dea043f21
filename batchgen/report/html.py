"""report.html: one self-contained page (inline CSS, SVG charts and thumbnails; nothing fetched)
with the headline, latency, throughput, cost, errors by kind and a gallery."""

from __future__ import annotations

import time
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from batchgen.report import charts
from batchgen.report.gallery import collect, gallery_html, make_thumbnails
from batchgen.report.names import REPORT_HTML, SHOWN_PHASES
from batchgen.report.settings import settings_rows
from batchgen.report.stats import duration_text
from batchgen.report.summary import ErrorExample, ModelLatency, RunRecord, Summary
from batchgen.report.written import written
from batchgen.store.journal import Journal

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2430;
background:#f6f7f9}main{max-width:1120px;margin:0 auto;padding:24px}h1{margin:0 0 4px}
h2{margin:32px 0 8px;border-bottom:1px solid #dde1e6;padding-bottom:4px}.sub{color:#5b6472;margin:0}
section>p.note{color:#5b6472}#headline{display:grid;gap:12px;margin-top:20px;
grid-template-columns:repeat(auto-fit,minmax(160px,1fr))}.card{background:#fff;border-radius:8px;
padding:12px 16px;box-shadow:0 1px 2px #0001}.card .label{color:#5b6472;font-size:13px}
.card .value{font-size:26px;font-weight:600}.card .more{color:#5b6472;font-size:12px}
.card.bad .value{color:#b42318}
.chart svg{width:100%;max-width:1000px;height:auto;background:#fff;border-radius:8px}
table{border-collapse:collapse;background:#fff;margin:8px 0;font-size:14px}
th,td{padding:4px 10px;border-bottom:1px solid #e6e9ed;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.group{margin:18px 0}
.group h3{font-size:15px;font-weight:600;margin:0 0 6px}.shots{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0;background:#fff;border-radius:6px;padding:6px;width:172px;
box-shadow:0 1px 2px #0001}
figure.multi{width:336px}
figure .imgs{display:flex;flex-wrap:wrap;gap:4px;justify-content:center;min-height:60px}
figure img{max-width:160px;max-height:160px;display:block}figcaption{font-size:12px;color:#5b6472}
.missing{width:160px;height:90px;display:flex;align-items:center;justify-content:center;
background:#fbeaea;color:#b42318;font-size:12px;text-align:center}footer{color:#5b6472;
font-size:12px;margin-top:40px}code{font-size:13px}
"""


def write_html(
    run_dir: Path, journal: Journal, summary: Summary, *, thumbnails: int | None = None
) -> Path:
    """Render report.html (and any thumbnails it needs): the summary, then the gallery streamed
    from the journal; returns its path. At most `thumbnails` new thumbnails (None: all)."""
    gallery = collect(journal)
    deferred = make_thumbnails(run_dir, gallery, limit=thumbnails)
    body = [
        _headline(summary),
        _latency(summary.model_latency),
        _throughput(summary),
        _timeline(summary),
        _cost(summary),
        _errors(summary),
        settings_section(summary.runs),
        gallery_html(gallery, run_dir, deferred),
    ]
    path = run_dir / REPORT_HTML
    with written(path) as part:
        part.write_text(page(f"{summary.name}: batchgen report", body, summary), encoding="utf-8")
    return path


REBUILD = (
    "The numbers come from the run's journal; <code>batchgen report RUN_DIR</code> rebuilds "
    "this page, report.json and tasks.csv."
)


def page(
    title: str,
    sections: Sequence[str],
    summary: Summary | None = None,
    footer: str = REBUILD,
) -> str:
    """A whole self-contained page; `sections` and `footer` are HTML, already escaped."""
    generated = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    sub = _subtitle(summary) if summary else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>"
        f"<header><h1>{escape(title)}</h1>{sub}</header>{''.join(sections)}"
        f"<footer>Made by batchgen on {generated}. {footer}</footer></main></body></html>\n"
    )


def _subtitle(summary: Summary) -> str:
    tasks, runs = summary.tasks, summary.runs
    last = runs[-1].status if runs else "no run yet"
    return (
        f'<p class="sub">{tasks.planned:,} tasks planned, {tasks.pending:,} pending; '
        f"{len(runs)} run{'s' if len(runs) != 1 else ''}, the last one {escape(last)}</p>"
    )


def _section(key: str, title: str, *parts: str) -> str:
    return f'<section id="{key}"><h2>{escape(title)}</h2>{"".join(parts)}</section>'


def _note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def _chart(svg: str | None, empty: str) -> str:
    return f'<div class="chart">{svg}</div>' if svg else _note(empty)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: set[int]) -> str:
    """An HTML table; columns in `numeric` align right. Cells are escaped here."""
    head = "".join(
        f"<th{' class=n' if i in numeric else ''}>{escape(h)}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=n' if i in numeric else ''}>{escape(str(c))}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def usd(value: float | None, digits: int | None = None) -> str:
    """Dollars: cents for sums of a dollar or more, else four places (one image costs $0.021)."""
    if value is None:
        return "–"
    places = digits if digits is not None else (2 if abs(value) >= 1 or value == 0 else 4)
    return f"${value:,.{places}f}"


def _card(key: str, label: str, value: str, more: str, bad: bool = False) -> str:
    return (
        f'<div class="card{" bad" if bad else ""}" id="card-{key}"><div class="label">'
        f'{escape(label)}</div><div class="value">{escape(value)}</div>'
        f'<div class="more">{escape(more)}</div></div>'
    )


def _headline(s: Summary) -> str:
    tasks, cost, request, queue = s.tasks, s.cost_usd, s.latency_s.request, s.latency_s.queue
    failed_attempts = sum(s.errors.attempts_by_kind.values())
    cards = [
        _card("images", "Images", f"{s.images.count:,}", f"{tasks.done:,} tasks rendered"),
        _card(
            "failures", "Failures", f"{tasks.failed:,}",
            f"tasks failed; {failed_attempts:,} failed attempts", bad=tasks.failed > 0,
        ),
        _card("wall", "Wall time", duration_text(s.wall_s), f"{len(s.runs)} run(s)"),
        _card("rate", "Images / s", f"{s.images_per_s:,.2f}", "over the wall time"),
        _card("request", "Request p50", duration_text(request.p50),
              f"p95 {duration_text(request.p95)}; queue p50 {duration_text(queue.p50)}"),
        _card("cost", "Total cost", usd(cost.total),
              f"{usd(cost.billed_failed_attempts)} on failed attempts"),
        _card("per-image", "Cost per image", usd(cost.per_image, 4), "total ÷ images"),
    ]  # fmt: skip
    return f'<section id="headline">{"".join(cards)}</section>'


def _latency(models: Sequence[ModelLatency]) -> str:
    rows = [
        (m.model, phase.replace("_", "-"), f"{m.count:,}",
         *(duration_text(x) for x in (at.p50, at.p90, at.p99, at.max)))
        for m in models
        for phase in SHOWN_PHASES
        for at in (m.latency.of(phase),)
        if at.count or phase != "process"  # a run that converts nothing has no such phase
    ]  # fmt: skip
    return _section(
        "latency",
        "Latency per model",
        _chart(charts.latency_cdf(models), "No task was rendered: no latency to show."),
        table(("model", "phase", "tasks", "p50", "p90", "p99", "max"), rows, {2, 3, 4, 5, 6})
        if rows
        else "",
        _note("request: from sending the request to its answer parsed (ttfb: to the answer's "
              "headers; body: reading and parsing it), the service time. queue: waiting for a "
              "slot or the rate limit, apart. process: converting the images (output.format, "
              "output.sizes), apart from download. end-to-end: all of it, downloads included."),
    )  # fmt: skip


def _timeline(s: Summary) -> str:
    run = next((r for r in reversed(s.runs) if r.timeline), None)
    if run is None:
        return _section("timeline", "Engine over time", _note("No run was sampled."))
    return _section(
        "timeline",
        f"Engine over time (run {run.id})",
        _chart(charts.timeline(run), "No sample."),
        _note(_timeline_text(run)),
    )


def _timeline_text(run: RunRecord) -> str:
    most = max(p.in_flight for p in run.timeline)
    limits = sorted({p.limit for p in run.timeline})
    limit = f"{limits[0]:g}" if len(limits) == 1 else f"{limits[0]:g} to {limits[-1]:g}"
    return (
        f"Requests in flight at most {most:g}; concurrency limit {limit}; "
        f"{run.rate_limited:,} attempts refused with HTTP 429. Sampled about once a second."
    )


def settings_section(runs: Sequence[RunRecord]) -> str:
    """What each run was asked to do (the last few runs), one row per setting."""
    shown = [run for run in runs if run.settings is not None][-4:]
    if not shown:
        return _section("settings", "Settings", _note("No run recorded its settings."))
    rows = settings_rows([run.settings or {} for run in shown])
    headers = ("setting", *(f"run {run.id}" for run in shown))
    return _section("settings", "Settings", table(headers, rows, set()))


def _throughput(s: Summary) -> str:
    runs = [(f"run {run.id}", [(p.t_s, p.images_per_s) for p in run.throughput]) for run in s.runs]
    text = (
        f"{s.images.count:,} images in {duration_text(s.wall_s)} of runs: "
        f"{s.images_per_s:,.2f} images/s overall."
    )
    return _section(
        "throughput",
        "Throughput over time",
        _chart(charts.throughput(runs), "No image was rendered: no throughput to show."),
        _note(text),
    )


def _cost(s: Summary) -> str:
    cells = s.cost_usd.cells
    rows = [
        (c.model, c.aspect_ratio, f"{c.tasks:,}", f"{c.images:,}", usd(c.cost_usd),
         usd(c.cost_usd / c.images, 4) if c.images else "–")
        for c in cells
    ]  # fmt: skip
    billed = s.cost_usd.billed_failed_attempts
    return _section(
        "cost",
        "Cost by model and aspect ratio",
        _chart(charts.cost_bars(cells), "Nothing was spent."),
        table(("model", "aspect", "tasks", "images", "cost", "per image"), rows, {2, 3, 4, 5})
        if rows
        else "",
        _note(f"Failed attempts that the provider billed: {usd(billed)} (included above)."),
    )


def _errors(s: Summary) -> str:
    errors = s.errors
    if not errors.attempts_by_kind and not errors.failed_tasks_by_kind:
        return _section("errors", "Errors by kind", _note("No errors: every attempt succeeded."))
    kinds = dict.fromkeys([*errors.attempts_by_kind, *errors.failed_tasks_by_kind])
    rows = [
        (kind or "unknown", f"{errors.attempts_by_kind.get(kind, 0):,}",
         f"{errors.failed_tasks_by_kind.get(kind, 0):,}")
        for kind in kinds
    ]  # fmt: skip
    items = "".join(
        f"<li><strong>{escape(kind)}</strong>: {_example(example)}</li>"
        for kind, found in errors.samples.items()
        for example in found
    )
    return _section(
        "errors",
        "Errors by kind",
        table(("kind", "failed attempts", "failed tasks"), rows, {1, 2}),
        f'<ul class="examples">{items}</ul>' if items else "",
        _note("A failed attempt may be retried; a failed task used up its attempts (or could not "
              "be retried). Rerun the job to try failed tasks again."),
    )  # fmt: skip


def _example(example: ErrorExample) -> str:
    status = f"HTTP {example.status} · " if example.status else ""
    prompt = f" <em>(prompt: {escape(example.prompt[:120])})</em>" if example.prompt else ""
    model = escape(example.model or "")
    return f"{status}{model}: <code>{escape(example.message[:300])}</code>{prompt}"
