"""The journal's SQLite file: opened for a run (locked, migrated, the paid log folded back
in) or read only, and what to tell the user when SQLite finds it damaged or the disk full."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from batchgen.errors import JournalError
from batchgen.store import paidlog, schema
from batchgen.store.lock import take_lock
from batchgen.store.paidlog import PaidLog

JOURNAL_FILE = "journal.sqlite"
LOCK_FILE = "journal.lock"
SQLITE_IOERR, SQLITE_FULL = 10, 13  # primary result codes (sqlite.org/rescode.html)


def open_writable(
    run_dir: Path, *, lock: bool, fresh: bool
) -> tuple[sqlite3.Connection, Any, PaidLog]:
    """The connection, the folder's lock (None unless `lock`) and the paid log; `fresh`
    deletes every earlier run's journal and paid log once the lock is held."""
    handle = paid = None
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        handle = take_lock(run_dir / LOCK_FILE) if lock else None
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                (run_dir / (JOURNAL_FILE + suffix)).unlink(missing_ok=True)
            PaidLog.remove(run_dir)
        conn = sqlite3.connect(run_dir / JOURNAL_FILE, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(schema.SCHEMA)
        schema.add_columns(conn)
        schema.check_version(conn)
        paid = PaidLog(run_dir)
        paid.fold_into(conn)  # after a kill: the paid generations no commit held
    except (OSError, sqlite3.Error) as exc:
        for held in (handle, paid):
            if held is not None:
                held.close()
        raise JournalError(
            damage_message(exc, run_dir) or f"cannot open the journal in {run_dir}: {exc}"
        ) from exc
    return conn, handle, paid


def open_readonly(run_dir: Path) -> sqlite3.Connection:
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
        schema.check_version(conn)
        paidlog.overlay(conn, run_dir)  # what a killed run paid for and no commit held yet
    except sqlite3.Error as exc:
        raise JournalError(f"cannot read the journal in {run_dir}: {exc}") from exc
    return conn


def damage_message(exc: BaseException, run_dir: Path | None = None) -> str | None:
    """What to tell the user when SQLite finds the journal's pages corrupt (not merely busy)."""
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        where = run_dir / JOURNAL_FILE if run_dir else JOURNAL_FILE
        return (
            f"the journal is damaged: {exc} ({where}); rerun with --fresh to start over, "
            "or restore journal.sqlite from a copy"
        )
    return None


def explain(exc: sqlite3.Error) -> str:
    """SQLite says "disk I/O error" when a write hits a full disk; say what to check."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (SQLITE_IOERR, SQLITE_FULL):
        return f"{exc} (is the disk full, or the folder not writable?)"
    return str(exc)
