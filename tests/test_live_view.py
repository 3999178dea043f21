"""Issue 17 point 2: the live view's engine line (elapsed, in flight / limit, adaptive), retries
as they happen, the stopping state and an ETA from the recent rate; snapshots of the rich
renderable at a fixed width (no terminal, no tmux), and the engine's hooks on the emulator."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import pytest
from rich.console import Console

from batchgen.errors import RateLimited, ServerError
from batchgen.models import Outcome, SavedImage, Task, Timing
from batchgen.progress import ProgressView, RecentRate, time_left
from batchgen.run.engine import Observer
from batchgen.run.job import RunOptions, run
from tests.helpers import FAST, load, many_prompts

IMAGE = SavedImage(0, "images/x.png", 10, 1, 1, "image/png")
WIDTH = 80


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def task(task_id: str = "t", model: str = FAST) -> Task:
    return Task(id=task_id, ordinal=0, prompt="p", model=model, aspect_ratio="1:1", num_images=1)


def outcome(task_id: str = "t", status: str = "done", attempts: int = 1) -> Outcome:
    images = (IMAGE,) if status == "done" else ()
    return Outcome(task(task_id), status, attempts, Timing(), 0.02, FAST, images)  # type: ignore[arg-type]


def live_view(clock: Clock, total: int = 10) -> ProgressView:
    """A view that believes it is on a terminal, drawing into a string it never shows."""
    console = Console(file=io.StringIO(), force_terminal=True, width=WIDTH, color_system=None)
    return ProgressView(total=total, models=[FAST], console=console, clock=clock, title="job")


def snapshot(view: ProgressView) -> list[str]:
    """The view's current frame as plain text lines, rendered at a fixed width."""
    console = Console(record=True, file=io.StringIO(), width=WIDTH, color_system=None)
    console.print(view.frame())
    return [line.rstrip() for line in console.export_text().splitlines()]


def test_the_engine_line_shows_elapsed_in_flight_and_the_adaptive_limit() -> None:
    clock = Clock()
    view = live_view(clock)
    clock.now += 65
    view.load(in_flight=12, limit=16, adaptive=True)
    lines = snapshot(view)
    assert lines[0].startswith("job") and "0/10" in lines[0]
    assert lines[2] == "elapsed 1m05s  in flight 12/16 (adaptive)"
    view.load(in_flight=3, limit=4, adaptive=False)
    assert snapshot(view)[2] == "elapsed 1m05s  in flight 3/4"
    assert max(len(line) for line in snapshot(view)) <= WIDTH


def test_retries_count_as_they_happen() -> None:
    clock = Clock()
    view = live_view(clock)
    for attempt in (1, 2, 3):  # one task refused three times, still going
        view.attempt_failed(task("a"), FAST, attempt, RateLimited("HTTP 429"))
    footer = snapshot(view)[3]
    assert "retries 3" in footer and "errors 3" in footer  # before the task has ended
    view.finished(outcome("a", attempts=4))
    assert "retries 3" in snapshot(view)[3]
    # a task that fails for good: its last failed attempt was not retried
    view.attempt_failed(task("b"), FAST, 1, ServerError("HTTP 500"))
    view.attempt_failed(task("b"), FAST, 2, ServerError("HTTP 500"))
    view.finished(outcome("b", status="failed", attempts=2))
    footer = snapshot(view)[3]
    assert "retries 4" in footer and "errors 5" in footer and "failed 1" in footer


def test_stopping_says_what_it_waits_for() -> None:
    clock = Clock()
    view = live_view(clock)
    view.load(in_flight=5, limit=8, adaptive=False)
    view.stopping(5)
    assert snapshot(view)[2] == "stopping: 5 in flight, Ctrl-C again to abort"
    view.finished(outcome("x"))
    view.stopping(4)
    assert snapshot(view)[2] == "stopping: 4 in flight, Ctrl-C again to abort"
    assert "ETA -" in snapshot(view)[0]  # what is left will not be rendered by this run


def test_off_a_terminal_the_stop_is_logged_at_once() -> None:
    out, clock = io.StringIO(), Clock()
    console = Console(file=out, force_terminal=False, width=300)
    view = ProgressView(total=10, console=console, clock=clock)
    view.stopping(2)
    assert out.getvalue().strip() == "stopping: 2 in flight, Ctrl-C again to abort"


def test_the_eta_follows_the_recent_rate_not_the_whole_run() -> None:
    clock = Clock()
    view = live_view(clock, total=300)
    view.skipped(100)  # a rerun: what was done before is not speed
    for _ in range(6):  # a slow minute...
        clock.now += 10
        view.finished(outcome())
    for _ in range(120):  # ...then two a second
        clock.now += 0.5
        view.finished(outcome())
    eta = re.search(r"ETA (\S+)", snapshot(view)[0])
    assert eta is not None
    # 74 left: ~37 s at the recent 2/s; the whole run's mean (126 in 120 s) would say ~70 s
    assert eta.group(1) in {"37s", "38s", "39s", "40s", "41s"}


def test_the_recent_rate_reads_a_steady_rate_exactly_and_decays_when_idle() -> None:
    rate = RecentRate(start=0.0, window_s=30.0)
    for second in range(1, 301):
        rate.add(float(second), 2)  # two tasks a second for five minutes
    assert rate.per_s(300.0) == pytest.approx(2.0, rel=0.02)
    assert rate.per_s(330.0) == pytest.approx(2.0 * math.exp(-1), rel=0.05)  # half a minute idle
    assert RecentRate(start=5.0).per_s(5.0) == 0.0
    assert time_left(10, 0.0) == "-" and time_left(0, 3.0) == "-" and time_left(90, 1.0) == "1m30s"


class Recorder(Observer):
    def __init__(self) -> None:
        self.stops: list[int] = []
        self.loads: list[tuple[int, int, bool]] = []

    def stopping(self, in_flight: int) -> None:
        self.stops.append(in_flight)

    def load(self, *, in_flight: int, limit: int, adaptive: bool) -> None:
        self.loads.append((in_flight, limit, adaptive))


def test_the_engine_tells_the_observer_it_is_stopping_and_counts_down(tmp_path: Path) -> None:
    manifest = load(tmp_path, f"""
        version: 1
        name: stops
        provider: {{kind: emulator, time_scale: 0.02, image_bytes: small, seed: 2}}
        models: [{FAST}]
        budget: {{max_usd: 0.2}}
        limits: {{concurrency: 8}}
        {many_prompts(40)}
    """)  # fmt: skip
    recorder = Recorder()
    job = run(manifest, RunOptions(out=tmp_path / "run", html=False), recorder)
    assert job.result.status == "budget"
    assert recorder.stops, "the engine never said it was stopping"
    assert recorder.stops == sorted(recorder.stops, reverse=True)  # counts down...
    assert recorder.stops[-1] == 0  # ...to nothing left in flight
    assert recorder.loads and all(
        limit == 8 and not adaptive for _, limit, adaptive in recorder.loads
    )
