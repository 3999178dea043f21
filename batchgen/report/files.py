"""The run directory's report files, rebuilt from the journal alone: report.json, tasks.csv and
report.html."""

from __future__ import annotations

import csv
import errno
import json
import os
import time
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from batchgen.errors import JournalError, SinkError
from batchgen.report import stats
from batchgen.store.journal import JOURNAL_FILE, Journal

REPORT_JSON = "report.json"
TASKS_CSV = "tasks.csv"
REPORT_HTML = "report.html"
REPORT_FILES = (REPORT_JSON, TASKS_CSV, REPORT_HTML)
THUMBS_DIR = "thumbs"  # the gallery's thumbnails, made once
PHASES = {
    "wait": "wait_s",
    "request": "request_s",
    "download": "download_s",
    "end_to_end": "total_s",
}
CSV_COLUMNS = (
    "id", "ordinal", "status", "model", "model_used", "aspect_ratio", "seed", "num_images",
    "image_count", "prompt", "attempts", "wait_s", "request_s", "download_s", "total_s",
    "cost_usd", "error_kind", "error_message",
)  # fmt: skip


def build_summary(journal: Journal, *, name: str) -> dict[str, Any]:
    """Everything report.json says, computed from the journal (so reruns cover the whole job)."""
    runs = [dict(row) for row in journal.query("SELECT * FROM runs ORDER BY id")]
    counts = _counts(journal)
    wall_s = sum(run["wall_s"] or 0.0 for run in runs)
    planned = runs[-1]["planned"] if runs else 0
    return {
        "name": name,
        "generated_at": time.time(),
        "tasks": {
            "planned": planned,
            "done": counts["done"],
            "failed": counts["failed"],
            "pending": max(planned - counts["done"] - counts["failed"], 0),
        },
        "images": {"count": counts["images"], "bytes": counts["bytes"]},
        "wall_s": wall_s,
        "images_per_s": stats.rate(counts["images"], wall_s),
        "latency_s": {phase: _latency(journal, column) for phase, column in PHASES.items()},
        "cost_usd": _costs(journal, counts["images"]),
        "errors": _errors(journal),
        "runs": [_run(journal, run) for run in runs],
    }


def _counts(journal: Journal) -> dict[str, int]:
    row = journal.query(
        "SELECT COALESCE(SUM(status = 'done'), 0), COALESCE(SUM(status = 'failed'), 0),"
        " (SELECT COUNT(*) FROM images i JOIN tasks t ON t.id = i.task_id WHERE t.status = 'done'),"
        " (SELECT COALESCE(SUM(i.bytes), 0) FROM images i JOIN tasks t ON t.id = i.task_id"
        "  WHERE t.status = 'done') FROM tasks"
    )[0]
    return {"done": row[0], "failed": row[1], "images": row[2], "bytes": row[3]}


def _latency(journal: Journal, column: str) -> dict[str, float | int | None]:
    # Sorted by SQLite and held as a compact array: a million tasks cost 8 MB here, not 30.
    values = array("d")
    for (value,) in journal.iter_query(
        f"SELECT {column} FROM tasks WHERE status = 'done' ORDER BY {column}"
    ):
        values.append(value)
    return stats.distribution(values)


def _costs(journal: Journal, images: int) -> dict[str, Any]:
    total = journal.query("SELECT COALESCE(SUM(cost_usd), 0) FROM tasks")[0][0]
    by = {
        key: {
            row[0]: row[1]
            for row in journal.query(
                f"SELECT {column}, SUM(cost_usd) FROM tasks GROUP BY {column} ORDER BY {column}"
            )
        }
        for key, column in (
            ("by_model", "COALESCE(model_used, model)"),
            ("by_aspect_ratio", "aspect_ratio"),
        )
    }
    billed_failures = journal.query("SELECT COALESCE(SUM(billed_usd), 0) FROM errors")[0][0]
    return {
        "total": total,
        "per_image": total / images if images else None,
        "billed_failed_attempts": billed_failures,
        **by,
    }


def _errors(journal: Journal) -> dict[str, Any]:
    attempts = journal.query(
        "SELECT kind, COUNT(*), MAX(message) FROM errors GROUP BY kind ORDER BY COUNT(*) DESC"
    )
    failed = journal.query(
        "SELECT error_kind, COUNT(*) FROM tasks WHERE status = 'failed' GROUP BY error_kind"
    )
    return {
        "attempts_by_kind": {row[0]: row[1] for row in attempts},
        "failed_tasks_by_kind": {row[0]: row[1] for row in failed},
        "examples": {row[0]: row[2] for row in attempts},
    }


def _run(journal: Journal, run: dict[str, Any]) -> dict[str, Any]:
    rows = journal.query(
        "SELECT COUNT(*), COALESCE(SUM(image_count), 0) FROM tasks"
        " WHERE run_id = ? AND status = 'done'",
        (run["id"],),
    )[0]
    wall_s = run["wall_s"] or 0.0
    width = stats.bucket_width(wall_s)
    finished = journal.iter_query(
        "SELECT finished_at, image_count FROM tasks WHERE run_id = ? AND status = 'done'",
        (run["id"],),
    )
    return {
        **run,
        "tasks_done": rows[0],
        "images": rows[1],
        "images_per_s": stats.rate(rows[1], wall_s),
        "throughput": stats.throughput_series(finished, start=run["started_at"], width=width),
    }


def write_reports(
    run_dir: Path, journal: Journal, *, name: str, html: bool = True
) -> dict[str, Any]:
    """Write report.json, tasks.csv and report.html atomically; return the summary."""
    summary = build_summary(journal, name=name)
    _atomic_write(run_dir / REPORT_JSON, json.dumps(summary, indent=2, sort_keys=False) + "\n")
    _write_tasks_csv(run_dir / TASKS_CSV, journal)
    if html:
        from batchgen.report.html import write_html  # matplotlib loads in ~0.5 s; plan needs none

        write_html(run_dir, journal, summary)
    return summary


def rebuild_reports(run_dir: Path) -> dict[str, Any]:
    """`batchgen report RUN_DIR`: every report file again, from the journal alone."""
    if not (run_dir / JOURNAL_FILE).is_file():
        raise JournalError(f"no batchgen journal in {run_dir} ({JOURNAL_FILE} is missing)")
    journal = Journal.open(run_dir, lock=False)  # a run may hold the lock; reading is safe
    try:
        return write_reports(run_dir, journal, name=journal.meta("name") or run_dir.name)
    finally:
        journal.close()


def _write_tasks_csv(path: Path, journal: Journal) -> None:
    with written(path) as part, part.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow((*CSV_COLUMNS, "files"))
        rows = journal.iter_query(
            f"SELECT {', '.join('t.' + c for c in CSV_COLUMNS)},"
            " (SELECT GROUP_CONCAT(path, ';') FROM images i WHERE i.task_id = t.id)"
            " FROM tasks t ORDER BY t.ordinal"
        )
        writer.writerows(rows)


def _atomic_write(path: Path, text: str) -> None:
    with written(path) as part:
        part.write_text(text, encoding="utf-8")


@contextmanager
def written(path: Path) -> Iterator[Path]:
    """The one way a report file is written: into `path`.part, renamed over `path` when whole.
    A failure (a full disk, a signal) leaves no .part behind and an OSError says what."""
    part = path.with_name(path.name + ".part")
    try:
        yield part
        os.replace(part, path)
    except BaseException as exc:
        part.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            why = "the disk is full" if full else exc.strerror or str(exc)
            raise SinkError(f"cannot write {path}: {why}") from exc
        raise
