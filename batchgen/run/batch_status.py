"""`batchgen status RUN_DIR`: the run directory's batches as the journal last saw them (read
only: nothing is started, nothing is asked of the provider)."""

from __future__ import annotations

import time
from pathlib import Path

from batchgen.store.journal import BatchRecord, Journal


def status_lines(run_dir: Path) -> list[str]:
    journal = Journal.open_readonly(run_dir)
    try:
        records = journal.batches()
        counts = dict(journal.iter_query("SELECT status, COUNT(*) FROM tasks GROUP BY status"))
    finally:
        journal.close()
    done, failed = counts.get("done", 0), counts.get("failed", 0)
    head = f"{run_dir}: {done:,} tasks done, {failed:,} failed; {len(records)} batches"
    return [head, *(_line(record) for record in records)]


def _line(record: BatchRecord) -> str:
    remote = record.remote_id or "(not yet known)"
    state = record.state + (", collected" if record.collected else "")
    submitted = record.submitted_at or record.created_at
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(submitted))
    turnaround = ""
    if record.ended_at is not None:
        turnaround = f", turnaround {record.ended_at - submitted:.0f}s"
    return (
        f"  {record.marker} {remote} {record.api}/{record.model}: {len(record.task_ids)} tasks,"
        f" {state}, submitted {when}{turnaround}"
    )
