"""The paid log beside the journal: each paid generation as one line appended with a single
write(2), and the inline images of a paid answer as files, until the journal's next commit
holds the generation (then the log is emptied; the files stay until the images are saved).

Data handed to write(2) is in the kernel's page cache when the call returns, so a killed
process cannot lose it; a machine crash can, as it can the journal's last commits (SQLite's
WAL with synchronous=NORMAL). Neither is fsynced: that is the promise, no more.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from batchgen.models import ImageRef
from batchgen.store import linelog

PAID_LOG = "journal.paid"
INLINE_DIR = ".paid"  # the run directory's staging area for paid inline images
# A journal `generations` row, and a line of the log: the same tuple.
ROW_FIELDS = ("task_id", "run_id", "model", "refs", "cost_usd", "at")
Row = tuple[Any, ...]
PUT_GENERATION = "INSERT OR REPLACE INTO generations VALUES (?, ?, ?, ?, ?, ?)"
_TEMP_GENERATIONS = """
CREATE TEMP TABLE generations (
    task_id TEXT PRIMARY KEY, run_id INTEGER, model TEXT NOT NULL, refs TEXT NOT NULL,
    cost_usd REAL NOT NULL, at REAL)
"""
_COMMITTED = """
SELECT (SELECT status FROM tasks WHERE id = ?), (SELECT refs FROM generations WHERE task_id = ?)
"""


class PaidLog:
    """Appends paid generations; `forget` empties the log once a commit holds them."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.path = run_dir / PAID_LOG
        self._fd = linelog.open_for_append(self.path)
        self._written = os.fstat(self._fd).st_size > 0  # lines a commit has not yet covered
        self._staged: dict[str, list[str]] = {}  # task -> its inline images in the staging area

    def __repr__(self) -> str:
        return f"PaidLog({str(self.path)!r})"

    @staticmethod
    def remove(run_dir: Path) -> None:
        """--fresh: forget every paid generation with the journal."""
        (run_dir / PAID_LOG).unlink(missing_ok=True)
        shutil.rmtree(run_dir / INLINE_DIR, ignore_errors=True)

    def append(
        self, task_id: str, run_id: int, model: str, refs: Sequence[ImageRef], cost_usd: float
    ) -> Row:
        """Stage the inline images, then write one line: when this returns, a kill of the
        process cannot lose the generation. Gives its journal row."""
        staged = self._stage_inline(task_id, refs)
        entries = [entry for ref in refs if (entry := _entry(ref, staged.get(ref.index)))]
        row = (task_id, run_id, model, json.dumps(entries), cost_usd, time.time())
        linelog.append_line(self._fd, row)
        self._written = True
        if staged:
            self._staged[task_id] = list(staged.values())
        return row

    def forget(self) -> None:
        """Everything appended so far is committed in the journal: empty the log. Should
        that fail, the lines stay and are folded in again, which changes nothing."""
        if self._written:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
                self._written = False

    def fold_into(self, conn: sqlite3.Connection) -> None:
        """Put the log's generations into the journal, then empty the log and drop staged
        images no generation refers to (see _put_new). A torn last line is skipped."""
        rows = _rows(self.path)
        if rows:
            conn.execute("BEGIN IMMEDIATE")
            _put_new(conn, rows)
            conn.execute("COMMIT")
            self._written = True
            self.forget()
        self._sweep_inline(conn)

    def refs_of(self, task_id: str, refs_json: str) -> tuple[ImageRef, ...]:
        """A kept generation's images: links as kept, inline images read back from the
        staging area (None when gone: fine if the image is on disk, else it is bought
        again)."""
        entries = json.loads(refs_json)
        staged = [entry["inline"] for entry in entries if "inline" in entry]
        if staged:
            self._staged[task_id] = staged
        return tuple(
            ImageRef(
                entry["index"],
                url=entry.get("url"),
                b64=self._load_inline(entry["inline"]) if "inline" in entry else None,
                mime_type=entry.get("mime_type"),
            )
            for entry in entries
        )

    def close(self) -> None:
        os.close(self._fd)

    # inline images: the bytes paid for, kept as their base64 text until the image is saved
    def _stage_inline(self, task_id: str, refs: Sequence[ImageRef]) -> dict[int, str]:
        """Write each inline image to the staging area; its path relative to the run folder
        by index. Each file appears whole under its name (written aside, then renamed)."""
        staged: dict[int, str] = {}
        for ref in refs:
            if ref.b64 is None:
                continue
            if not staged:
                (self.run_dir / INLINE_DIR).mkdir(exist_ok=True)
            relative = f"{INLINE_DIR}/{task_id}-{ref.index}.b64"
            final = self.run_dir / relative
            aside = final.with_suffix(".tmp")
            aside.write_bytes(ref.b64.encode("ascii", "replace"))
            os.replace(aside, final)
            staged[ref.index] = relative
        return staged

    def _load_inline(self, relative: str) -> str | None:
        """An inline image staged by an earlier run, or None when it is gone."""
        try:
            return (self.run_dir / relative).read_text("ascii", "replace")
        except OSError:
            return None

    def settled(self, task_id: str) -> None:
        """The task's generation is done with (every image is on disk with a durable row, or
        it is dropped): its staged images are not needed any more."""
        for relative in self._staged.pop(task_id, ()):
            (self.run_dir / relative).unlink(missing_ok=True)

    def _sweep_inline(self, conn: sqlite3.Connection) -> None:
        """Remove staged images no generation refers to (a kill before their record)."""
        folder = self.run_dir / INLINE_DIR
        if not folder.is_dir():
            return
        with os.scandir(folder) as entries:
            names = [entry.name for entry in entries]
        keep = _inline_paths(conn) if names else set()
        for name in names:
            if f"{INLINE_DIR}/{name}" not in keep:
                (folder / name).unlink(missing_ok=True)


def overlay(conn: sqlite3.Connection, run_dir: Path) -> None:
    """A reader's view of a killed run (plan, report, compare): the log's generations join a
    temporary copy of `generations` that shadows the journal's on this connection alone, so the
    spend they hold counts and nothing is written into the run's folder."""
    rows = _rows(run_dir / PAID_LOG)
    if not rows:
        return
    conn.execute(_TEMP_GENERATIONS)
    conn.execute("INSERT INTO temp.generations SELECT * FROM main.generations")
    _put_new(conn, rows)


def _rows(path: Path) -> list[Row]:
    return [row for value in linelog.read_lines(path) if (row := _row(value)) is not None]


def _put_new(conn: sqlite3.Connection, rows: list[Row]) -> None:
    """Every line is newer than the last commit (a commit empties the log), so its row wins
    unless its task is done or the same row is there (its cost perhaps moved to the task)."""
    for row in rows:
        status, refs = conn.execute(_COMMITTED, (row[0], row[0])).fetchone()
        if status != "done" and refs != row[3]:
            conn.execute(PUT_GENERATION, row)


def _row(value: Any) -> Row | None:
    try:
        row = tuple(value)
    except TypeError:  # not a row at all
        return None
    return row if len(row) == len(ROW_FIELDS) else None


def _inline_paths(conn: sqlite3.Connection) -> set[str]:
    """The staged images the journal's generations refer to."""
    rows = conn.execute("SELECT refs FROM generations")
    return {e["inline"] for (refs,) in rows for e in json.loads(refs) if "inline" in e}


def _entry(ref: ImageRef, staged: str | None) -> dict[str, Any] | None:
    """How a paid image is found again: its link, or its staged inline copy."""
    if staged is not None:
        return {"index": ref.index, "inline": staged, "mime_type": ref.mime_type}
    if ref.url:
        return {"index": ref.index, "url": ref.url, "mime_type": ref.mime_type}
    return None
