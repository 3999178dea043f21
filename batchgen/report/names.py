"""The names the report lives by: its files in the run directory, the thumbnails' folder, and the
latency phases with the journal column each is read from."""

from __future__ import annotations

from typing import Final, Literal

REPORT_JSON: Final = "report.json"
TASKS_CSV: Final = "tasks.csv"
REPORT_HTML: Final = "report.html"
REPORT_FILES: Final = (REPORT_JSON, TASKS_CSV, REPORT_HTML)
THUMBS_DIR: Final = "thumbs"  # the gallery's thumbnails, made once
# A run's own report makes at most this many new thumbnails (the first screens: ~8 ms of CPU
# each for a 1K PNG, 400 were seconds per run); later cards show their image from images/,
# loaded by the browser only when scrolled to. `batchgen report` makes them all.
RUN_THUMBNAILS: Final = 48
# Journal meta keys the run sets for the report (here, so a run's start need not import the
# report's reader to name them): the bucket URL the images went to, if any; "1" when
# output.sidecar asked for sidecars.
BUCKET_META: Final = "bucket"
SIDECAR_META: Final = "sidecar"
PUBLIC_URL_META: Final = "public_url"  # output.public_url, if the manifest gave one

Phase = Literal["wait", "request", "download", "end_to_end", "ttfb", "body", "queue", "process"]
# report.json's order; the journal's tasks table holds each phase in its own column. `queue`
# is `wait` under the name the report uses (waiting for a slot or the rate limit): read once.
PHASES: Final[dict[Phase, str]] = {
    "wait": "wait_s",
    "request": "request_s",
    "download": "download_s",
    "end_to_end": "total_s",
    "ttfb": "ttfb_s",  # within request: to the answer's headers
    "body": "body_s",  # within request: the answer's body read and parsed
    "process": "process_s",  # output.format/sizes: decode, resize, encode (not in download)
}
# Columns newer than schema 1: a task without a value (an older journal) is left out of them.
# process: only tasks whose images were converted have one.
MEASURED_PHASES: Final[frozenset[Phase]] = frozenset({"ttfb", "body", "process"})
HEADLINE_PHASE: Final[Phase] = "request"  # the service time: what a benchmark compares
# the order people read them in (tables, comparisons): the headline, its parts, then the rest
SHOWN_PHASES: Final[tuple[Phase, ...]] = (
    "request", "ttfb", "body", "queue", "download", "process", "end_to_end",
)  # fmt: skip
COST_FLAG_KIND = "cost_flag"  # errors-table rows flagging a cost (not a failed attempt)
MODEL_STOPPED_KIND = "model_stopped"  # the breaker stopped a model: one errors row says why
