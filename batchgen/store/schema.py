"""The journal's tables, the additive migrations that bring an older journal up to date,
and the statement that writes a task row (store/journal.py runs them)."""

from __future__ import annotations

import sqlite3

from batchgen.errors import JournalError

SCHEMA_VERSION = 1
SCHEMA = """
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
CREATE TABLE IF NOT EXISTS generations (
    task_id TEXT PRIMARY KEY, run_id INTEGER, model TEXT NOT NULL, refs TEXT NOT NULL,
    cost_usd REAL NOT NULL, at REAL);
CREATE TABLE IF NOT EXISTS samples (
    run_id INTEGER NOT NULL, at REAL NOT NULL, in_flight INTEGER NOT NULL,
    concurrency INTEGER NOT NULL, adaptive INTEGER NOT NULL, started INTEGER NOT NULL,
    overloads INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    marker TEXT PRIMARY KEY, api TEXT NOT NULL, model TEXT NOT NULL, task_ids TEXT NOT NULL,
    remote_id TEXT, state TEXT NOT NULL, created_at REAL NOT NULL, submitted_at REAL,
    ended_at REAL, collected INTEGER NOT NULL DEFAULT 0, message TEXT);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status);
CREATE INDEX IF NOT EXISTS tasks_ordinal ON tasks (ordinal);  -- the gallery streams in job order
"""
# Columns added after schema 1, by ALTER TABLE when missing: an older journal keeps working.
ADDED_COLUMNS = (
    ("tasks", "row_id", "TEXT"),  # the user's key for the row (rows.id_column, JSONL id)
    ("tasks", "row", "TEXT"),  # the row's fields as JSON, for the outputs index
    ("images", "sha256", "TEXT"),
    ("tasks", "ttfb_s", "REAL"),  # request_s split: to the answer's headers, then its body
    ("tasks", "body_s", "REAL"),
    ("runs", "settings", "TEXT"),  # JSON: provider, base URL, models, limits, version, digest
    ("images", "variants", "TEXT"),  # output.format/sizes: every file made (store/variants.py)
    ("tasks", "process_s", "REAL"),  # output.format/sizes: decode, resize, encode (NULL: none)
)
TASK_COLUMNS = (
    "id, ordinal, run_id, status, model, model_used, aspect_ratio, prompt, seed, num_images,"
    " image_count, attempts, wait_s, request_s, download_s, total_s, cost_usd, error_kind,"
    " error_message, started_at, finished_at, row_id, row, ttfb_s, body_s,"
    " process_s"
)
# A task rendered again (it failed before) keeps what every earlier attempt cost.
UPSERT_TASK = f"""
INSERT INTO tasks ({TASK_COLUMNS})
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET row_id = excluded.row_id, row = excluded.row,
    ordinal = excluded.ordinal, run_id = excluded.run_id, status = excluded.status,
    model_used = excluded.model_used, image_count = excluded.image_count,
    attempts = tasks.attempts + excluded.attempts, wait_s = excluded.wait_s,
    request_s = excluded.request_s, download_s = excluded.download_s,
    total_s = excluded.total_s, cost_usd = tasks.cost_usd + excluded.cost_usd,
    error_kind = excluded.error_kind, error_message = excluded.error_message,
    started_at = excluded.started_at, finished_at = excluded.finished_at,
    ttfb_s = excluded.ttfb_s, body_s = excluded.body_s, process_s = excluded.process_s
"""


def add_columns(conn: sqlite3.Connection) -> None:
    """Additive migrations: a column a newer batchgen writes is added to an older journal."""
    for table, column, kind in ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def check_version(conn: sqlite3.Connection) -> None:
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    elif int(row[0]) != SCHEMA_VERSION:
        raise JournalError(f"journal schema {row[0]} is not {SCHEMA_VERSION}; rerun with --fresh")
