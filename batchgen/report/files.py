"""The run directory's report files, rebuilt from the journal alone: report.json, tasks.csv and
report.html."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from batchgen.errors import JournalError
from batchgen.report.index import write_index
from batchgen.report.names import REPORT_JSON, RUN_THUMBNAILS, TASKS_CSV
from batchgen.report.read import CSV_COLUMNS, read_summary, task_rows
from batchgen.report.summary import Summary
from batchgen.report.written import write_text, written
from batchgen.store.journal import JOURNAL_FILE, Journal


def write_reports(
    run_dir: Path,
    journal: Journal,
    *,
    name: str,
    html: bool = True,
    budget: tuple[float, str] | None = None,
    thumbnails: int | None = RUN_THUMBNAILS,
) -> Summary:
    """Write report.json, tasks.csv and report.html atomically; return the summary. A run makes
    at most `thumbnails` new thumbnails (None: every one the gallery shows); `budget`: the cap and
    its scope, shown against the job's spend."""
    summary = read_summary(journal, name=name, budget=budget)
    write_text(run_dir / REPORT_JSON, json.dumps(summary.to_json(), indent=2) + "\n")
    _write_tasks_csv(run_dir / TASKS_CSV, journal)
    write_index(run_dir, journal)  # index.jsonl, index.csv (and sidecars when asked)
    if html:
        from batchgen.report.html import write_html  # matplotlib loads in ~0.5 s; plan needs none

        write_html(run_dir, journal, summary, thumbnails=thumbnails)
    return summary


def rebuild_reports(run_dir: Path) -> Summary:
    """`batchgen report RUN_DIR`: every report file again, from the journal alone."""
    if not (run_dir / JOURNAL_FILE).is_file():
        raise JournalError(f"no batchgen journal in {run_dir} ({JOURNAL_FILE} is missing)")
    journal = Journal.open(run_dir, lock=False)  # a run may hold the lock; reading is safe
    try:
        name = journal.meta("name") or run_dir.name
        return write_reports(run_dir, journal, name=name, thumbnails=None)
    finally:
        journal.close()


def _write_tasks_csv(path: Path, journal: Journal) -> None:
    with written(path) as part, part.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow((*CSV_COLUMNS, "files"))
        writer.writerows(task_rows(journal))
