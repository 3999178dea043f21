"""Live terminal view of a run: done/total, images/s, ETA, cost so far, errors (rich).

When the output is not a terminal (CI, cron) it prints a plain line every few seconds instead.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from .engine import Observer
from .errors import BatchgenError
from .models import Outcome, Task

LOG_INTERVAL_S = 10.0


class ProgressView(Observer):
    def __init__(
        self, *, total: int, console: Console | None = None, title: str = "render"
    ) -> None:
        self.console = console or Console(stderr=True)
        self.total = total
        self.done = self.failed = self.already_done = self.images = self.errors = 0
        self.cost_usd = 0.0
        self._started = time.monotonic()
        self._last_log = self._started
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if self.console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                console=self.console,
                transient=False,
            )
            self._task = self._progress.add_task(title, total=total, status="")

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
        self._refresh(force=True)
        if self._progress is not None:
            self._progress.stop()

    def skipped(self, count: int) -> None:
        self.already_done += count
        self._refresh()

    def attempt_failed(self, task: Task, model: str, attempt: int, error: BatchgenError) -> None:
        self.errors += 1
        self._refresh()

    def finished(self, outcome: Outcome) -> None:
        if outcome.status == "done":
            self.done += 1
            self.images += len(outcome.images)
        else:
            self.failed += 1
        self.cost_usd += outcome.cost_usd
        self._refresh()

    def status_line(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        rendered = self.done + self.failed
        remaining = self.total - rendered - self.already_done
        rate = rendered / elapsed
        eta = f"{remaining / rate:,.0f}s" if rate > 0 and remaining > 0 else "-"
        return (
            f"{self.images / elapsed:,.1f} img/s  ETA {eta}  ${self.cost_usd:,.2f}  "
            f"failed {self.failed}  errors {self.errors}  already done {self.already_done}"
        )

    def _refresh(self, *, force: bool = False) -> None:
        finished = self.done + self.failed + self.already_done
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=finished, status=self.status_line())
            return
        now = time.monotonic()
        if force or now - self._last_log >= LOG_INTERVAL_S:
            self._last_log = now
            self.console.print(
                f"{finished}/{self.total} tasks  {self.status_line()}", highlight=False
            )
