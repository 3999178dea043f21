"""The names the report lives by: its files in the run directory, the thumbnails' folder, and the
latency phases with the journal column each is read from."""

from __future__ import annotations

from typing import Final, Literal

REPORT_JSON: Final = "report.json"
TASKS_CSV: Final = "tasks.csv"
REPORT_HTML: Final = "report.html"
REPORT_FILES: Final = (REPORT_JSON, TASKS_CSV, REPORT_HTML)
THUMBS_DIR: Final = "thumbs"  # the gallery's thumbnails, made once

Phase = Literal["wait", "request", "download", "end_to_end"]
# report.json's order; the journal's tasks table holds each phase in its own column
PHASES: Final[dict[Phase, str]] = {
    "wait": "wait_s",
    "request": "request_s",
    "download": "download_s",
    "end_to_end": "total_s",
}
# the order people read them in (tables, comparisons): the whole first, then its parts
SHOWN_PHASES: Final[tuple[Phase, ...]] = ("end_to_end", "request", "wait", "download")
COST_FLAG_KIND = "cost_flag"  # errors-table rows flagging a cost (not a failed attempt)
MODEL_STOPPED_KIND = "model_stopped"  # the breaker stopped a model: one errors row says why
