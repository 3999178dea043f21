"""Live terminal view of a run: a row per model and one overall, images/s, ETA (from the recent
rate), spend against the budget, retries as they happen and errors; a line for the engine:
elapsed time, requests in flight against the concurrency limit (adaptive or not), and after the
first Ctrl-C what the stop waits for (rich). When the output is not a terminal (CI, cron) it
prints a plain line every ten seconds and a final one instead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Column
from rich.text import Text

from batchgen.errors import BatchgenError
from batchgen.models import Outcome, Task
from batchgen.run.engine import Observer

LOG_INTERVAL_S = 10.0
RECENT_S = 30.0  # the ETA's rate weighs the last ~30 s: a rerun or a slow start does not skew it


@dataclass(slots=True)
class Tally:
    """What happened so far, for one model or for the whole run."""

    total: int
    done: int = 0
    failed: int = 0
    already_done: int = 0
    images: int = 0
    cost_usd: float = 0.0
    retries: int = 0
    errors: int = 0

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.already_done

    def add(self, outcome: Outcome) -> None:
        if outcome.status == "done":
            self.done += 1
            self.images += len(outcome.images)
        else:
            self.failed += 1
        self.cost_usd += outcome.cost_usd


class RecentRate:
    """Tasks per second, exponentially weighted over about `window_s` (pure: time comes in).

    Each event weighs exp(-age / window_s); the sum is divided by the weight a steady rate
    since `start` would have, so a constant rate reads exactly, from the first seconds on."""

    def __init__(self, start: float, window_s: float = RECENT_S) -> None:
        self._start = start
        self._window_s = window_s
        self._weight = 0.0
        self._at = start

    def add(self, now: float, count: int = 1) -> None:
        self._weight = self._decayed(now) + count
        self._at = now

    def per_s(self, now: float) -> float:
        span = now - self._start
        if span <= 0 or self._weight <= 0:
            return 0.0
        return self._decayed(now) / (self._window_s * -math.expm1(-span / self._window_s))

    def _decayed(self, now: float) -> float:
        return self._weight * math.exp(-max(now - self._at, 0.0) / self._window_s)


def eta_text(remaining: int, rendered: int, elapsed_s: float) -> str:
    """Time left at the rate seen so far: '45s', '12m05s', '3h20m', or '-' when unknown."""
    if rendered <= 0 or elapsed_s <= 0:
        return "-"
    return time_left(remaining, rendered / elapsed_s)


def time_left(remaining: int, per_s: float) -> str:
    """`remaining` tasks at `per_s`: '45s', '12m05s', '3h20m', or '-' when unknown."""
    if remaining <= 0 or per_s <= 0:
        return "-"
    return clock_text(remaining / per_s)


def clock_text(seconds_float: float) -> str:
    seconds = round(seconds_float)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


def spend_text(cost_usd: float, max_usd: float | None, scope: str = "run") -> str:
    if max_usd is None:
        return f"${cost_usd:,.2f}"
    cap = "job budget" if scope == "job" else "budget"
    return f"${cost_usd:,.2f} of ${max_usd:,.2f} {cap} ({cost_usd / max_usd:.0%})"


def short_model(model: str) -> str:
    """'google/imagen-4.0-fast-generate-001' -> 'imagen-4.0-fast-generate-001' (narrow rows)."""
    return model.split("/", 1)[-1]


def _cut(max_width: int | None = None) -> Column:
    return Column(no_wrap=True, overflow="ellipsis", max_width=max_width)


class _RowsAndFooter(Progress):
    """The rows, then one line of run-wide figures under them (fits an 80-column terminal)."""

    footer = ""
    engine = ""  # elapsed, in flight / limit, or what a stop waits for

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        yield Text(self.engine)
        yield Text(self.footer)


class ProgressView(Observer):
    """Counts what the engine reports and shows it; use it as a context manager around the run."""

    def __init__(
        self,
        *,
        total: int,
        models: Sequence[str] = (),
        max_usd: float | None = None,
        console: Console | None = None,
        title: str = "render",
        clock: Callable[[], float] = time.monotonic,
        interval_s: float = LOG_INTERVAL_S,
    ) -> None:
        self.console = console or Console(stderr=True)
        self.overall = Tally(total)
        share = total // len(models) if models else 0  # tasks are models x everything else
        self.by_model = {model: Tally(share) for model in models}
        self.max_usd = max_usd
        self.scope = "run"
        self.spent_before_usd = 0.0  # earlier runs' spend, under a job-wide cap
        self.title = title
        self._clock = clock
        self._interval_s = interval_s
        self._started = self._last_log = clock()
        self._last_event: float | None = None
        self._recent = RecentRate(self._started)
        self._load: tuple[int, int, bool] | None = None  # in flight, limit, adaptive
        self._stopping: int | None = None  # tasks a stop still waits for
        self._failing: set[str] = set()  # tasks with a failed attempt and no end yet
        self._progress: _RowsAndFooter | None = None
        self._rows: dict[str | None, TaskID] = {}
        if self.console.is_terminal:
            self._progress = self._live_rows()

    def __repr__(self) -> str:
        return f"ProgressView(total={self.overall.total}, models={list(self.by_model)})"

    def _live_rows(self) -> _RowsAndFooter:
        counts = len(f"{self.overall.total}/{self.overall.total}")
        progress = _RowsAndFooter(
            TextColumn("{task.description}", table_column=_cut(max_width=31)),
            BarColumn(bar_width=20),
            MofNCompleteColumn(table_column=Column(no_wrap=True, min_width=counts)),
            TextColumn("{task.fields[info]}", markup=False, table_column=_cut()),
            console=self.console,
            transient=False,
        )
        title = f"[bold]{escape(self.title)}"
        self._rows[None] = progress.add_task(title, total=self.overall.total, info="")
        for model, tally in self.by_model.items():
            name = f"  {escape(short_model(model))}"
            self._rows[model] = progress.add_task(name, total=tally.total, info="")
        return progress

    def __enter__(self) -> ProgressView:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._refresh(final=True)
        if self._progress is not None:
            self._progress.stop()

    # Observer hooks, called by the engine

    def skipped(self, count: int, by_model: Mapping[str, int] | None = None) -> None:
        self.overall.already_done += count
        for model, skipped in (by_model or {}).items():
            self._tally(model).already_done += skipped
        self._refresh()

    def attempt_failed(self, task: Task, model: str, attempt: int, error: BatchgenError) -> None:
        # counted as a retry now; a task that then fails took back its last one (not retried)
        self._failing.add(task.id)
        for tally in (self.overall, self._tally(task.model)):
            tally.errors += 1
            tally.retries += 1
        self._refresh()

    def finished(self, outcome: Outcome) -> None:
        self._last_event = self._clock()
        self._recent.add(self._last_event)
        retried = outcome.task.id in self._failing
        self._failing.discard(outcome.task.id)
        for tally in (self.overall, self._tally(outcome.task.model)):
            tally.add(outcome)
            if retried and outcome.status == "failed":
                tally.retries -= 1
        self._refresh()

    def load(self, *, in_flight: int, limit: int, adaptive: bool) -> None:
        self._load = (in_flight, limit, adaptive)
        self._refresh()

    def stopping(self, in_flight: int) -> None:
        first = self._stopping is None
        self._stopping = in_flight
        if first and self._progress is None:  # a log says it at once, not ten seconds later
            self._print(self.engine_line())
        self._refresh()

    def budget(self, max_usd: float, spent_before_usd: float, scope: str) -> None:
        self.max_usd, self.spent_before_usd, self.scope = max_usd, spent_before_usd, scope
        self._refresh()

    def model_stopped(self, model: str, reason: str) -> None:
        self.console.print(f"[bold red]stopped:[/] {escape(reason)}", highlight=False)

    # What is shown

    def status_line(self) -> str:
        """The overall figures, as the plain log lines show them (the live view splits them)."""
        return f"{self.rate_line()}  {self.footer_line()}"

    def rate_line(self) -> str:
        tally, elapsed = self.overall, self._elapsed()
        left = 0 if self._stopping is not None else tally.total - tally.finished  # no ETA then
        eta = time_left(left, self._recent.per_s(self._now()))
        return f"{tally.images / elapsed:,.1f} img/s  ETA {eta}"

    def engine_line(self) -> str:
        """Elapsed time and requests in flight against the limit; once stopping, what for."""
        if self._stopping is not None:
            return f"stopping: {self._stopping} in flight, Ctrl-C again to abort"
        line = f"elapsed {clock_text(self._now() - self._started)}"
        if self._load is not None:
            in_flight, limit, adaptive = self._load
            line += f"  in flight {in_flight}/{limit}{' (adaptive)' if adaptive else ''}"
        return line

    def footer_line(self) -> str:
        tally = self.overall
        return (
            f"{spend_text(self.spent_before_usd + tally.cost_usd, self.max_usd, self.scope)}"
            f"  failed {tally.failed}  "
            f"retries {tally.retries}  errors {tally.errors}  already done {tally.already_done}"
        )

    def model_line(self, model: str) -> str:
        tally = self.by_model[model]
        line = f"{tally.images / self._elapsed():,.1f} img/s  ${tally.cost_usd:,.2f}"
        for word, count in (("failed", tally.failed), ("errors", tally.errors)):
            line += f"  {word} {count}" if count else ""
        return line

    def plain_line(self) -> str:
        line = (
            f"{self.overall.finished}/{self.overall.total} tasks  {self.status_line()}"
            f"  {self.engine_line()}"
        )
        if len(self.by_model) > 1:
            parts = (f"{short_model(m)} {t.finished}/{t.total}" for m, t in self.by_model.items())
            line += "  [" + ", ".join(parts) + "]"
        return line

    def frame(self) -> RenderableType:
        """What the screen shows now (the live rows, or the plain line off a terminal)."""
        if self._progress is None:
            return Text(self.plain_line())
        self._update_rows()
        return self._progress.get_renderable()

    def _tally(self, model: str) -> Tally:
        # a model the view was not told about (a direct API user) still gets counted
        return self.by_model.setdefault(model, Tally(0))

    def _now(self) -> float:
        # as _elapsed: the clock stops with the last task in
        done = self.overall.finished >= self.overall.total and self._last_event is not None
        return self._last_event if done and self._last_event is not None else self._clock()

    def _elapsed(self) -> float:
        # once every task is in, the clock stops: writing the report is not rendering time
        done = self.overall.finished >= self.overall.total and self._last_event is not None
        end = self._last_event if done and self._last_event is not None else self._clock()
        return max(end - self._started, 1e-9)

    def _refresh(self, *, final: bool = False) -> None:
        if self._progress is not None:
            self._update_rows()
            return
        now = self._clock()
        if final or now - self._last_log >= self._interval_s:
            self._last_log = now
            self._print(self.plain_line())

    def _print(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def _update_rows(self) -> None:
        assert self._progress is not None
        self._progress.footer = self.footer_line()
        self._progress.engine = self.engine_line()
        self._progress.update(
            self._rows[None], completed=self.overall.finished, info=self.rate_line()
        )
        for model, tally in self.by_model.items():
            if model in self._rows:
                self._progress.update(
                    self._rows[model], completed=tally.finished, info=self.model_line(model)
                )
