"""Provider batches (mode: batch) as the journal keeps them: the record, and the statements
that add, change and read the batches table (store/journal.py runs them in its group)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_CHANGEABLE = {"remote_id", "state", "submitted_at", "ended_at", "collected", "message"}


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """One provider batch as the journal knows it ("submitting" until the provider's id is
    known; the marker is the run-unique name the provider keeps in its metadata)."""

    marker: str
    api: str
    model: str
    task_ids: tuple[str, ...]
    remote_id: str | None
    state: str
    created_at: float
    submitted_at: float | None = None
    ended_at: float | None = None
    collected: bool = False
    message: str | None = None


def insert(record: BatchRecord) -> tuple[str, tuple[Any, ...]]:
    """The statement that adds a batch about to be submitted."""
    return (
        "INSERT INTO batches (marker, api, model, task_ids, remote_id, state, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (record.marker, record.api, record.model, json.dumps(list(record.task_ids)),
         record.remote_id, record.state, record.created_at),
    )  # fmt: skip


def update(marker: str, changes: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """The statement that changes a batch's remote_id, state, submitted_at, ended_at,
    collected or message."""
    assert set(changes) <= _CHANGEABLE, set(changes) - _CHANGEABLE
    sets = ", ".join(f"{name} = ?" for name in changes)
    return f"UPDATE batches SET {sets} WHERE marker = ?", (*changes.values(), marker)


def read(conn: sqlite3.Connection) -> list[BatchRecord]:
    """Every batch in the journal, oldest first."""
    try:
        rows = conn.execute(
            "SELECT marker, api, model, task_ids, remote_id, state, created_at, submitted_at,"
            " ended_at, collected, message FROM batches ORDER BY created_at, rowid"
        ).fetchall()
    except sqlite3.OperationalError:  # an older journal read as it is: it made no batches
        return []
    return [_batch_record(row) for row in rows]


def _batch_record(row: Sequence[Any]) -> BatchRecord:
    marker, api, model, task_ids, remote_id, state, created, submitted, ended, collected, msg = row
    return BatchRecord(
        marker=marker,
        api=api,
        model=model,
        task_ids=tuple(json.loads(task_ids)),
        remote_id=remote_id,
        state=state,
        created_at=created,
        submitted_at=submitted,
        ended_at=ended,
        collected=bool(collected),
        message=msg,
    )
