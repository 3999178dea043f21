"""The progress view: plain lines when the output is not a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from batchgen.errors import ServerError
from batchgen.models import Outcome, SavedImage, Task, Timing
from batchgen.progress import ProgressView

TASK = Task(id="t", ordinal=0, prompt="p", model="m", aspect_ratio="1:1", num_images=2)


def test_plain_progress_lines_count_what_happened() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    image = SavedImage(0, "images/x.png", 10, 1, 1, "image/png")
    with ProgressView(total=10, console=console) as view:
        view.skipped(3)
        view.attempt_failed(TASK, "m", 1, ServerError("HTTP 503"))
        view.finished(Outcome(TASK, "done", 2, Timing(), 0.042, "m", (image, image)))
        view.finished(Outcome(TASK, "failed", 1, Timing(), 0.0, error_kind="rejected"))
    line = out.getvalue().strip().splitlines()[-1]
    assert line.startswith("5/10 tasks")
    assert "$0.04" in line and "failed 1" in line and "errors 1" in line
    assert "already done 3" in line
