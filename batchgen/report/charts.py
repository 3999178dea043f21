"""The report's charts, drawn by matplotlib (no pyplot, no global state) as inline SVG: text stays
text, nothing is fetched, and a chart weighs tens of kilobytes whatever the number of tasks."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from batchgen.report.summary import CostCell, ModelLatency, RunRecord

WIDTH_IN, HEIGHT_IN = 10.0, 3.6
_STYLE: dict[str, Any] = {
    "svg.fonttype": "none",  # text as <text>, drawn in the page's font: smaller and searchable
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
}


@contextmanager
def _figure(name: str, height_in: float = HEIGHT_IN) -> Iterator[tuple[Figure, Axes, list[str]]]:
    """A figure to draw on; its SVG text lands in the list when the block ends."""
    svg: list[str] = []
    # a salt per chart: several SVGs in one page must not share clip-path ids
    rc: Any = {**_STYLE, "svg.hashsalt": f"batchgen-{name}"}  # Any: its key type is 3.9+ only
    with matplotlib.rc_context(rc):
        figure = Figure(figsize=(WIDTH_IN, height_in), layout="constrained")
        yield figure, figure.add_subplot(), svg
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    svg.append(text[text.index("<svg") :])  # inline: no XML prolog or doctype


def latency_cdf(models: Sequence[ModelLatency], *, label: str = "") -> str | None:
    """Request latency CDF (the service time: send -> answer parsed), one line per model (or
    per run when comparing); None: no data."""
    if not any(m.request_cdf for m in models):
        return None
    with _figure("latency") as (_, axes, svg):
        for item in models:
            seconds = [x for x, _ in item.request_cdf]
            fractions = [y * 100 for _, y in item.request_cdf]
            axes.step(seconds, fractions, where="post", label=item.model)
        axes.set_xlabel("request latency per task (s): send -> answer parsed, no queueing")
        axes.set_ylabel("% of tasks done within")
        axes.set_ylim(0, 100)
        axes.set_xlim(left=0)
        axes.legend(loc="best", title=label or None)
    return svg[0]


def throughput(runs: Sequence[tuple[str, Sequence[tuple[float, float]]]]) -> str | None:
    """Images/s over time, one line per run: (label, [(seconds since start, images/s)])."""
    if not any(points for _, points in runs):
        return None
    with _figure("throughput") as (_, axes, svg):
        for label, points in runs:
            if points:
                xs, ys = zip(*points, strict=True)
                axes.step(xs, ys, where="post", label=label)
        axes.set_xlabel("seconds since the run started")
        axes.set_ylabel("images / s")
        axes.set_ylim(bottom=0)
        axes.set_xlim(left=0)
        if len(runs) > 1:
            axes.legend(loc="upper right")
    return svg[0]


def timeline(run: RunRecord) -> str | None:
    """One run over time: images/s above; requests in flight, the concurrency limit and the
    429s per bucket below (the limiter sampled about once a second)."""
    if not run.timeline:
        return None
    with _figure("timeline", HEIGHT_IN * 1.5) as (figure, top, svg):
        top.remove()
        rate, load = figure.subplots(2, 1, sharex=True)
        if run.throughput:
            xs, ys = zip(*((p.t_s, p.images_per_s) for p in run.throughput), strict=True)
            rate.step(xs, ys, where="post", label="images / s")
        rate.set_ylabel("images / s")
        rate.set_ylim(bottom=0)
        times = [p.t_s for p in run.timeline]
        load.step(times, [p.in_flight for p in run.timeline], where="post", label="in flight")
        load.step(times, [p.limit for p in run.timeline], where="post", label="limit")
        refused = [(p.t_s, p.rate_limited) for p in run.timeline if p.rate_limited]
        if refused:
            bars = load.twinx()
            xs, ys = zip(*refused, strict=True)
            bars.bar(xs, ys, width=_width(run), align="edge", color="#d92d20", alpha=0.5)
            bars.set_ylabel("429s", color="#b42318")
        load.plot([], [], color="#d92d20", alpha=0.5, label="429s")  # a legend entry
        load.set_ylabel("requests")
        load.set_ylim(bottom=0)
        load.set_xlabel("seconds since the run started")
        load.set_xlim(left=0)
        load.legend(loc="upper right")
    return svg[0]


def _width(run: RunRecord) -> float:
    times = [p.t_s for p in run.timeline]
    return min((b - a for a, b in zip(times, times[1:], strict=False)), default=1.0)


def cost_bars(cells: Sequence[CostCell]) -> str | None:
    """Cost per model as horizontal bars, split by aspect ratio."""
    if not any(cell.cost_usd for cell in cells):
        return None
    models = sorted({cell.model for cell in cells})
    aspects = sorted({cell.aspect_ratio for cell in cells})
    height = min(1.3 + 0.4 * len(models), 8.0)
    with _figure("cost", height) as (figure, axes, svg):
        left = [0.0] * len(models)
        for aspect in aspects:
            widths = [_cost(cells, model, aspect) for model in models]
            axes.barh(models, widths, left=left, label=aspect, height=0.6)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        for row, total in enumerate(left):
            axes.annotate(f" ${total:,.2f}", (total, row), va="center", fontsize=9)
        axes.set_xlabel("cost (USD)")
        axes.invert_yaxis()
        axes.grid(axis="y", visible=False)
        axes.margins(x=0.12)
        figure.legend(title="aspect ratio", loc="outside right upper")
    return svg[0]


def _cost(cells: Sequence[CostCell], model: str, aspect: str) -> float:
    return sum(c.cost_usd for c in cells if c.model == model and c.aspect_ratio == aspect)
