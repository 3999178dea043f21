"""Run state in one SQLite file: what is done, what it cost, how long it took (crash-safe).

One connection, used only from the event loop thread: a single writer. Writes join one open
transaction (WAL mode) that is committed in groups: whenever a writer needs its rows durable
(`durable()`: an image row before its file is renamed into place), every few hundred ms, and
at the end. A killed process loses at most the last uncommitted group, and each record is
written whole, so the journal is always consistent; committing per record cost 8x the CPU.
A paid generation is also appended to the paid log (store/paidlog.py), which a kill cannot
lose; opening the journal folds what the log holds back in. Which write is made durable
when is decided in one place, batchgen.run.runlog (the run log).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from batchgen.errors import JournalError
from batchgen.models import ImageRef, Outcome, SavedImage
from batchgen.store import batches as batch_rows
from batchgen.store import sqlitefile, variants
from batchgen.store.batches import BatchRecord as BatchRecord  # callers import it from here
from batchgen.store.paidlog import PUT_GENERATION, PaidLog
from batchgen.store.schema import UPSERT_TASK
from batchgen.store.sqlitefile import JOURNAL_FILE as JOURNAL_FILE  # callers import these here
from batchgen.store.sqlitefile import damage_message as damage_message
from batchgen.store.sqlitefile import explain

GROUP_WINDOW_S = 0.005  # how long a durable() waits for others to share its commit
# "+status" keeps SQLite off the status index: through it, each batch of ids scanned every
# done task (170 ms a batch at 700k tasks, found by benchmarks/memory.py); by id, 1.5 ms.
_DONE_AMONG = "SELECT id FROM tasks WHERE +status = 'done' AND id IN ({marks})"
_TASK_STATE = """
SELECT (SELECT status FROM tasks WHERE id = ?), g.model, g.refs, g.cost_usd
FROM (SELECT 1) LEFT JOIN generations g ON g.task_id = ?
"""


class Journal:
    """The run directory's state; open it with `Journal.open(run_dir)`."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path, lock: Any = None, paid: PaidLog | None = None
    ) -> None:
        self._conn = conn
        self.path = path
        self._lock = lock
        self._paid = paid  # None: read-only
        self._broken: JournalError | None = None
        self._group: anyio.Event | None = None  # writers waiting for the next shared commit

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    @classmethod
    def open(cls, run_dir: Path, *, lock: bool = True, fresh: bool = False) -> Journal:
        """Open (or create) the journal; `lock` guards against two runs in one folder;
        `fresh` forgets every earlier run (only once the lock is held)."""
        conn, handle, paid = sqlitefile.open_writable(run_dir, lock=lock, fresh=fresh)
        return cls(conn, run_dir / JOURNAL_FILE, handle, paid)

    @classmethod
    def open_readonly(cls, run_dir: Path) -> Journal:
        """Read another run's journal and write nothing into its folder (for comparisons)."""
        return cls(sqlitefile.open_readonly(run_dir), run_dir / JOURNAL_FILE)

    def close(self) -> None:
        """Commit what is written (unless a commit already failed) and let go of the folder."""
        try:
            if self._broken is None:
                self.commit()
        finally:
            self._conn.close()
            if self._paid is not None:
                self._paid.close()
        if self._lock is not None:
            self._lock.close()

    def _write(self, sql: str, row: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Add one statement to the open group (opening one if needed)."""
        if self._broken is not None:
            raise self._broken
        try:
            if not self._conn.in_transaction:
                self._conn.execute("BEGIN IMMEDIATE")
            return self._conn.execute(sql, tuple(row))
        except sqlite3.Error as exc:
            # a damaged page may first be met by a write (the samples table sits at the end)
            message = damage_message(exc, self.path.parent)
            raise JournalError(
                message or f"journal write failed ({self.path}): {explain(exc)}"
            ) from exc

    def commit(self) -> None:
        """Make every write so far durable: it survives a killed process.

        A failed commit is final for this connection: SQLite may have rolled the whole group
        back, and a writer of that group must not go on to place a file whose row is lost."""
        if self._broken is not None:
            raise self._broken
        try:
            if self._conn.in_transaction:
                self._conn.execute("COMMIT")
            if self._paid is not None:
                self._paid.forget()  # the commit holds every generation the log had
        except sqlite3.Error as exc:
            self._broken = JournalError(
                damage_message(exc, self.path.parent)
                or f"journal write failed ({self.path}): {explain(exc)}"
            )
            raise self._broken from exc

    async def durable(self) -> None:
        """Return once every row written so far is committed. The first writer to ask leads:
        it lets others join for GROUP_WINDOW_S, then commits once for all of them (a commit
        costs ~150 us; one per image was a third of the engine's CPU)."""
        if self._group is not None:
            await self._group.wait()
            if self._broken is not None:
                raise self._broken
            return
        group = self._group = anyio.Event()
        try:
            await anyio.sleep(GROUP_WINDOW_S)
        finally:  # even when the leader is cancelled, its followers get their commit
            self._group = None
            try:
                self.commit()
            finally:
                group.set()

    def begin_run(self, *, name: str, planned: int, started_at: float) -> int:
        self._write("INSERT OR REPLACE INTO meta VALUES ('name', ?)", (name,))
        cursor = self._write(
            "INSERT INTO runs (started_at, planned, status) VALUES (?, ?, 'running')",
            (started_at, planned),
        )
        self.commit()
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def end_run(self, run_id: int, *, finished_at: float, wall_s: float, status: str) -> None:
        self._write(
            "UPDATE runs SET finished_at = ?, wall_s = ?, status = ? WHERE id = ?",
            (finished_at, wall_s, status, run_id),
        )
        self.commit()

    def record_settings(self, run_id: int, settings: str) -> None:
        """What the run was asked to do (JSON, no secrets), in its runs row (the open group)."""
        self._write("UPDATE runs SET settings = ? WHERE id = ?", (settings, run_id))

    def record_sample(self, run_id: int, at: float, counts: Sequence[int]) -> None:
        """The limiter's state at `at`: in flight, concurrency limit, adaptive (0/1), requests
        started and overloads (429/503) so far (the open group)."""
        self._write("INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?, ?)", (run_id, at, *counts))

    def set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def is_new(self) -> bool:
        """No run was ever begun here: the journal was just made (or deleted, or emptied)."""
        return self._conn.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is None

    def meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def done_among(self, task_ids: Sequence[str]) -> set[str]:
        """Which of these tasks are already rendered."""
        marks = ",".join("?" * len(task_ids))
        rows = self._conn.execute(_DONE_AMONG.format(marks=marks), tuple(task_ids))
        return {row[0] for row in rows}

    def record_generation(
        self, task_id: str, *, run_id: int, model: str, refs: Sequence[ImageRef], cost_usd: float
    ) -> None:
        """A generation was paid for: keep where its images are (links, or inline images
        staged as files) until they are on disk, so a run killed meanwhile fetches them
        instead of paying again. Durable against a kill when this returns (the paid log);
        the row joins the open group."""
        if self._broken is not None:
            raise self._broken
        assert self._paid is not None, "a read-only journal records nothing"
        try:
            row = self._paid.append(task_id, run_id, model, refs, cost_usd)
        except OSError as exc:
            raise JournalError(f"cannot keep a paid generation ({self.path}): {exc}") from exc
        self._write(PUT_GENERATION, row)

    def task_state(self, task_id: str) -> tuple[bool, PendingGeneration | None]:
        """Is the task done, and did a killed run pay for it already? (one query, hot path)"""
        row = self._conn.execute(_TASK_STATE, (task_id, task_id)).fetchone()
        if row[1] is None:
            return row[0] == "done", None
        assert self._paid is not None
        refs = self._paid.refs_of(task_id, row[2])
        return row[0] == "done", PendingGeneration(model=row[1], refs=refs, cost_usd=row[3])

    def record_image(self, task_id: str, image: SavedImage) -> None:
        """Written just before the file is renamed into place: every file on disk is known."""
        self._write(
            "INSERT OR REPLACE INTO images"
            " (task_id, idx, path, bytes, width, height, mime_type, sha256, variants)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _image_row(task_id, image),
        )

    def saved_images(self, task_id: str) -> dict[int, SavedImage]:
        rows = self._conn.execute(
            "SELECT idx, path, bytes, width, height, mime_type, sha256, variants FROM images"
            " WHERE task_id = ?",
            (task_id,),
        )
        return {row[0]: variants.saved_image(row) for row in rows}

    def drop_missing_images(self, run_dir: Path) -> int:
        """After a crash: forget image rows of unfinished tasks whose file never landed."""
        rows = self._conn.execute(
            "SELECT i.task_id, i.idx, i.path FROM images i LEFT JOIN tasks t ON t.id = i.task_id"
            " WHERE t.status IS NULL OR t.status != 'done'"
        ).fetchall()
        missing = [(task_id, idx) for task_id, idx, path in rows if not (run_dir / path).exists()]
        for task_id, idx in missing:
            self._write("DELETE FROM images WHERE task_id = ? AND idx = ?", (task_id, idx))
        self.commit()
        return len(missing)

    def record(self, outcome: Outcome, *, run_id: int, keep_generation: bool = False) -> None:
        """Store how a task ended (in the open group); its image rows are already written.
        `keep_generation`: its paid generation stays for the next run to fetch first (its
        cost is now the task's, so the generation carries none)."""
        task, timing = outcome.task, outcome.timing
        self._write(UPSERT_TASK, (
                task.id, task.ordinal, run_id, outcome.status, task.model, outcome.model_used,
                task.aspect_ratio, task.prompt, task.seed, task.num_images, len(outcome.images),
                outcome.attempts, timing.wait_s, timing.request_s, timing.download_s,
                timing.total_s, outcome.cost_usd, outcome.error_kind, outcome.error_message,
                outcome.started_at, outcome.finished_at, task.row_id,
                json.dumps(dict(task.row), ensure_ascii=False) if task.row else None,
                timing.ttfb_s, timing.body_s, timing.process_s,
            ))  # fmt: skip
        if keep_generation:
            self._write("UPDATE generations SET cost_usd = 0 WHERE task_id = ?", (task.id,))
        else:
            self._write("DELETE FROM generations WHERE task_id = ?", (task.id,))
            if self._paid is not None:
                self._paid.settled(task.id)
        # rows left by an earlier, larger attempt at this task (its files were replaced)
        self._write(
            "DELETE FROM images WHERE task_id = ? AND idx >= ?", (task.id, len(outcome.images))
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
        self._write(
            "INSERT INTO errors VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (task_id, run_id, attempt, model, kind, status, message, billed_usd, at),
        )

    def add_batch(self, record: BatchRecord) -> None:
        """A batch about to be submitted, with its marker and tasks: committed before the
        provider hears of it, so a kill at any later moment leaves a trace to find it by."""
        self._write(*batch_rows.insert(record))
        self.commit()

    def update_batch(self, marker: str, **changes: Any) -> None:
        """Change a batch's remote_id, state, submitted_at, ended_at, collected or message
        (committed at once: what the provider holds is never forgotten)."""
        self._write(*batch_rows.update(marker, changes))
        self.commit()

    def batches(self) -> list[BatchRecord]:
        """Every batch this run directory has submitted, oldest first."""
        return batch_rows.read(self._conn)

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


@dataclass(frozen=True, slots=True)
class PendingGeneration:
    """A generation paid for by an earlier run whose images did not all reach the disk."""

    model: str
    refs: tuple[ImageRef, ...]
    cost_usd: float


def _image_row(task_id: str, image: SavedImage) -> tuple[Any, ...]:
    return (
        task_id,
        image.index,
        image.path,
        image.bytes,
        image.width,
        image.height,
        image.mime_type,
        image.sha256,
        variants.dump(image.variants),
    )
