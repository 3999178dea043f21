"""The progress view: rich rows per model on a terminal, plain periodic lines elsewhere."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from batchgen.errors import ServerError
from batchgen.models import Outcome, SavedImage, Task, Timing
from batchgen.progress import ProgressView, eta_text, spend_text

FAST, ULTRA = "google/imagen-4.0-fast-generate-001", "google/imagen-4.0-ultra-generate-001"
IMAGE = SavedImage(0, "images/x.png", 10, 1, 1, "image/png")


def task(model: str = "m") -> Task:
    return Task(id="t", ordinal=0, prompt="p", model=model, aspect_ratio="1:1", num_images=2)


def done(model: str = "m", attempts: int = 1, cost: float = 0.042) -> Outcome:
    return Outcome(task(model), "done", attempts, Timing(), cost, model, (IMAGE, IMAGE))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_progress_lines_count_what_happened() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    with ProgressView(total=10, console=console) as view:
        view.skipped(3)
        view.attempt_failed(task(), "m", 1, ServerError("HTTP 503"))
        view.finished(done(attempts=2))
        view.finished(Outcome(task(), "failed", 1, Timing(), 0.0, error_kind="rejected"))
    line = out.getvalue().strip().splitlines()[-1]
    assert line.startswith("5/10 tasks")
    assert "$0.04" in line and "failed 1" in line and "errors 1" in line
    assert "retries 1" in line and "already done 3" in line


def test_plain_lines_come_every_interval_and_once_at_the_end() -> None:
    out, clock = io.StringIO(), Clock()
    console = Console(file=out, force_terminal=False, width=300)
    with ProgressView(
        total=40, models=[FAST, ULTRA], max_usd=2.0, console=console, clock=clock
    ) as view:
        for second in range(25):  # one task a second for 25 s: lines at 10 s and 20 s
            clock.now += 1
            view.finished(done(FAST if second % 2 else ULTRA))
    lines = out.getvalue().strip().splitlines()
    assert [line.split()[0] for line in lines] == ["10/40", "20/40", "25/40"]
    assert "of $2.00 budget" in lines[-1] and "2.0 img/s" in lines[-1]
    assert "ETA 15s" in lines[-1]  # 15 tasks left at one a second
    assert "[imagen-4.0-fast-generate-001 12/20, imagen-4.0-ultra-generate-001 13/20]" in lines[-1]


def test_the_live_view_has_a_row_per_model_and_the_budget() -> None:
    out, clock = io.StringIO(), Clock()
    console = Console(file=out, force_terminal=True, width=80, color_system=None)
    with ProgressView(
        total=4, models=[FAST, ULTRA], max_usd=1.0, console=console, clock=clock, title="job"
    ) as view:
        view.skipped(1, {FAST: 1})
        view.attempt_failed(task(ULTRA), ULTRA, 1, ServerError("HTTP 503"))
        clock.now += 2
        view.finished(done(ULTRA, attempts=2, cost=0.25))
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    top, fast, ultra, engine, footer = screen[screen.rindex("job") :].splitlines()  # last frame
    assert engine.startswith("elapsed 2s")
    assert "2/4" in top and "1.0 img/s" in top and "ETA 4s" in top
    assert "imagen-4.0-fast-generate-001" in fast and "1/2" in fast and "$0.00" in fast
    assert "imagen-4.0-ultra-generate-001" in ultra and "1/2" in ultra and "errors 1" in ultra
    assert footer.startswith("$0.25 of $1.00 budget (25%)")
    assert "retries 1" in footer and "errors 1" in footer and "already done 1" in footer
    assert max(len(line) for line in screen.splitlines()) <= 80


def test_the_rate_stops_when_the_last_task_is_in() -> None:
    out, clock = io.StringIO(), Clock()
    console = Console(file=out, force_terminal=False, width=300)
    with ProgressView(total=2, console=console, clock=clock) as view:
        for _ in range(2):
            clock.now += 1
            view.finished(done())
        clock.now += 60  # writing the report is not rendering time
    assert out.getvalue().splitlines()[-1].startswith("2/2 tasks  2.0 img/s")


@pytest.mark.parametrize(
    ("remaining", "rendered", "elapsed", "text"),
    [(0, 5, 10.0, "-"), (5, 0, 10.0, "-"), (3, 6, 12.0, "6s"), (90, 1, 10.0, "15m00s"),
     (1000, 1, 10.0, "2h46m")],
)  # fmt: skip
def test_eta_text(remaining: int, rendered: int, elapsed: float, text: str) -> None:
    assert eta_text(remaining, rendered, elapsed) == text


def test_spend_text_with_and_without_budget() -> None:
    assert spend_text(1.5, None) == "$1.50"
    assert spend_text(1.5, 10.0) == "$1.50 of $10.00 budget (15%)"
