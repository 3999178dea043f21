"""The journal's queries about each run (read.py's sibling): what it rendered and how fast, its
timeline (in flight, concurrency limit, 429s) and the settings it ran with."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from batchgen.report import stats
from batchgen.report.summary import RunRecord, ThroughputPoint, TimelinePoint
from batchgen.store.journal import Journal

RATE_LIMITED = 429


def columns(journal: Journal, table: str) -> set[str]:
    """The table's columns (none when it is missing): an older journal lacks the newer ones."""
    return {str(row[1]) for row in journal.query(f"PRAGMA table_info({table})")}


def read_runs(journal: Journal) -> tuple[RunRecord, ...]:
    settings = "settings" if "settings" in columns(journal, "runs") else "NULL"
    rows = journal.query(
        f"SELECT id, started_at, finished_at, wall_s, planned, status, {settings}"
        " FROM runs ORDER BY id"
    )
    sampled = bool(columns(journal, "samples"))
    return tuple(_run(journal, tuple(row), sampled=sampled) for row in rows)


def _run(journal: Journal, row: tuple[Any, ...], *, sampled: bool) -> RunRecord:
    run_id, started_at, finished_at, wall_s, planned, status, settings = row
    done = "FROM tasks WHERE run_id = ? AND status = 'done'"
    tasks, images = journal.query(
        f"SELECT COUNT(*), COALESCE(SUM(image_count), 0) {done}", (run_id,)
    )[0]
    seconds = wall_s or 0.0
    width = stats.bucket_width(seconds)
    finished = journal.iter_query(f"SELECT finished_at, image_count {done}", (run_id,))
    series = stats.throughput_series(finished, start=started_at, width=width)
    return RunRecord(
        id=run_id,
        started_at=started_at,
        finished_at=finished_at,
        wall_s=wall_s,
        planned=planned,
        status=status,
        tasks_done=tasks,
        images=images,
        images_per_s=stats.rate(images, seconds),
        throughput=tuple(ThroughputPoint(p["t_s"], p["images_per_s"]) for p in series),
        timeline=_timeline(journal, run_id, started_at, width) if sampled else (),
        settings=_settings(settings),
    )


def _timeline(
    journal: Journal, run_id: int, started_at: float, width: float
) -> tuple[TimelinePoint, ...]:
    """Per bucket of `width` s: the most requests in flight, the last limit, and the 429s."""
    state: dict[int, tuple[int, int]] = {}  # bucket -> (most in flight, last limit)
    samples = journal.iter_query(
        "SELECT at, in_flight, concurrency FROM samples WHERE run_id = ? ORDER BY at", (run_id,)
    )
    for at, in_flight, limit in samples:  # about one a second: an hour is 3,600 rows
        bucket = max(int((at - started_at) // width), 0)
        most = max(in_flight, state.get(bucket, (0, 0))[0])
        state[bucket] = (most, limit)
    refused = dict(
        journal.iter_query(
            "SELECT MAX(CAST((at - ?) / ? AS INTEGER), 0), COUNT(*) FROM errors"
            " WHERE run_id = ? AND status = ? GROUP BY 1",
            (started_at, width, run_id, RATE_LIMITED),
        )
    )
    if not state:
        return ()
    points, last = [], state[min(state)]
    for bucket in range(min(state), max([*state, *refused]) + 1):  # from the engine's start
        last = state.get(bucket, last)
        points.append(TimelinePoint(bucket * width, last[0], last[1], refused.get(bucket, 0)))
    return tuple(points)


def _settings(text: str | None) -> Mapping[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
