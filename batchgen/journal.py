"""Run state in one SQLite file: what is done, what it cost, how long it took (crash-safe).

Every outcome is one transaction in WAL mode, so a killed process leaves either the whole
record or none of it. One connection, used only from the event loop thread: a single writer.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import JournalError
from .models import Outcome

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; runs there are not locked
    fcntl = None  # type: ignore[assignment]

JOURNAL_FILE = "journal.sqlite"
LOCK_FILE = "journal.lock"
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, started_at REAL NOT NULL, finished_at REAL, wall_s REAL,
    planned INTEGER NOT NULL, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY, ordinal INTEGER, run_id INTEGER, status TEXT NOT NULL,
    model TEXT NOT NULL, model_used TEXT, aspect_ratio TEXT NOT NULL, prompt TEXT NOT NULL,
    seed INTEGER, num_images INTEGER NOT NULL, image_count INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    wait_s REAL, request_s REAL, download_s REAL, total_s REAL, cost_usd REAL NOT NULL,
    error_kind TEXT, error_message TEXT, started_at REAL, finished_at REAL);
CREATE TABLE IF NOT EXISTS images (
    task_id TEXT NOT NULL, idx INTEGER NOT NULL, path TEXT NOT NULL, bytes INTEGER NOT NULL,
    width INTEGER, height INTEGER, mime_type TEXT, PRIMARY KEY (task_id, idx));
CREATE TABLE IF NOT EXISTS errors (
    task_id TEXT NOT NULL, run_id INTEGER, attempt INTEGER, model TEXT, kind TEXT NOT NULL,
    status INTEGER, message TEXT, billed_usd REAL NOT NULL DEFAULT 0, at REAL);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status);
CREATE INDEX IF NOT EXISTS tasks_ordinal ON tasks (ordinal);  -- the gallery streams in job order
"""
# A task rendered again (it failed before) keeps what every earlier attempt cost.
_UPSERT_TASK = """
INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    ordinal = excluded.ordinal, run_id = excluded.run_id, status = excluded.status,
    model_used = excluded.model_used, image_count = excluded.image_count,
    attempts = tasks.attempts + excluded.attempts, wait_s = excluded.wait_s,
    request_s = excluded.request_s, download_s = excluded.download_s,
    total_s = excluded.total_s, cost_usd = tasks.cost_usd + excluded.cost_usd,
    error_kind = excluded.error_kind, error_message = excluded.error_message,
    started_at = excluded.started_at, finished_at = excluded.finished_at
"""


class Journal:
    """The run directory's state; open it with `Journal.open(run_dir)`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, lock: Any = None) -> None:
        self._conn = conn
        self.path = path
        self._lock = lock

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    @classmethod
    def open(cls, run_dir: Path, *, lock: bool = True, fresh: bool = False) -> Journal:
        """Open (or create) the journal; `lock` guards against two runs in one folder;
        `fresh` forgets every earlier run (only once the lock is held)."""
        handle = None
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            handle = _take_lock(run_dir / LOCK_FILE) if lock else None
            if fresh:
                for suffix in ("", "-wal", "-shm"):
                    (run_dir / (JOURNAL_FILE + suffix)).unlink(missing_ok=True)
            conn = sqlite3.connect(run_dir / JOURNAL_FILE, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            _check_version(conn)
        except (OSError, sqlite3.Error) as exc:
            if handle is not None:
                handle.close()
            raise JournalError(f"cannot open the journal in {run_dir}: {exc}") from exc
        return cls(conn, run_dir / JOURNAL_FILE, handle)

    @classmethod
    def open_readonly(cls, run_dir: Path) -> Journal:
        """Read another run's journal and write nothing into its folder (for comparisons).

        A journal left with a write-ahead log (a run still going, or killed) is read through it;
        otherwise SQLite is told the file cannot change, so it adds no -wal or -shm files."""
        path = run_dir / JOURNAL_FILE
        if not path.is_file():
            raise JournalError(f"no batchgen journal in {run_dir} ({JOURNAL_FILE} is missing)")
        wal = run_dir / (JOURNAL_FILE + "-wal")
        mode = "mode=ro" if wal.exists() and wal.stat().st_size else "immutable=1"
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True)
            _check_version(conn)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot read the journal in {run_dir}: {exc}") from exc
        return cls(conn, path)

    def close(self) -> None:
        self._conn.close()
        if self._lock is not None:
            self._lock.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise JournalError(f"journal write failed ({self.path}): {exc}") from exc

    def begin_run(self, *, name: str, planned: int, started_at: float) -> int:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('name', ?)", (name,))
            cursor = db.execute(
                "INSERT INTO runs (started_at, planned, status) VALUES (?, ?, 'running')",
                (started_at, planned),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def end_run(self, run_id: int, *, finished_at: float, wall_s: float, status: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, wall_s = ?, status = ? WHERE id = ?",
                (finished_at, wall_s, status, run_id),
            )

    def meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def done_among(self, task_ids: Sequence[str]) -> set[str]:
        """Which of these tasks are already rendered."""
        marks = ",".join("?" * len(task_ids))
        rows = self._conn.execute(
            f"SELECT id FROM tasks WHERE status = 'done' AND id IN ({marks})", tuple(task_ids)
        )
        return {row[0] for row in rows}

    def record(self, outcome: Outcome, *, run_id: int) -> None:
        """Store how a task ended, with its images, in one transaction."""
        task, timing = outcome.task, outcome.timing
        with self._transaction() as db:
            db.execute("DELETE FROM images WHERE task_id = ?", (task.id,))
            db.execute(_UPSERT_TASK, (
                task.id, task.ordinal, run_id, outcome.status, task.model, outcome.model_used,
                task.aspect_ratio, task.prompt, task.seed, task.num_images, len(outcome.images),
                outcome.attempts, timing.wait_s, timing.request_s, timing.download_s,
                timing.total_s, outcome.cost_usd, outcome.error_kind, outcome.error_message,
                outcome.started_at, outcome.finished_at,
            ))  # fmt: skip
            db.executemany(
                "INSERT INTO images VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (task.id, im.index, im.path, im.bytes, im.width, im.height, im.mime_type)
                    for im in outcome.images
                ],
            )

    def record_error(
        self,
        *,
        task_id: str,
        run_id: int,
        attempt: int,
        model: str,
        kind: str,
        status: int | None,
        message: str,
        billed_usd: float,
        at: float,
    ) -> None:
        """Store one failed attempt (retried or not), for errors-by-kind and billed failures."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO errors VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (task_id, run_id, attempt, model, kind, status, message, billed_usd, at),
            )

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Read-only access for the report."""
        self._conn.row_factory = sqlite3.Row
        try:
            return self._conn.execute(sql, tuple(params)).fetchall()
        finally:
            self._conn.row_factory = None

    def iter_query(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Stream rows without holding them all (for a million-task job)."""
        yield from self._conn.execute(sql, tuple(params))


def _take_lock(path: Path) -> Any:
    handle = open(path, "a+b")  # noqa: SIM115 - held for the journal's lifetime
    if fcntl is None:
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.close()
        raise JournalError(
            f"another batchgen run is using {path.parent} (pid lock {path.name}); "
            "wait for it or choose another --out"
        ) from exc
    handle.truncate(0)
    handle.write(str(os.getpid()).encode())
    handle.flush()
    return handle


def _check_version(conn: sqlite3.Connection) -> None:
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    elif int(row[0]) != SCHEMA_VERSION:
        raise JournalError(f"journal schema {row[0]} is not {SCHEMA_VERSION}; rerun with --fresh")
