"""Validate a row source by streaming it once: bad cells, missing or duplicate ids, prompts too
long, identical rows; and count what it makes, so `plan` never reads the file again.

Memory stays flat in the number of rows: ids seen are kept in a dict only up to SPILL_AT, then
in a temporary SQLite file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from batchgen.manifest import rows
from batchgen.models import RowCount, RowSource

MAX_PROBLEMS = 20  # a broken file says what is wrong without a thousand lines
SPILL_AT = 100_000  # keys kept in memory before they move to a temporary SQLite file


@dataclass(frozen=True, slots=True)
class Defaults:
    """The manifest's own values, which a row's overrides replace."""

    models: tuple[str, ...]
    aspect_ratios: tuple[str, ...]
    seeds: tuple[int | None, ...]
    num_images: int
    prompts_per_row: int  # the product of the entry's inline vars


@dataclass(frozen=True, slots=True)
class Needs:
    """What the entry asks of every row: fields its template uses, and the prompt limit."""

    template: str
    fields: tuple[str, ...]
    longest_vars: dict[str, str]
    limit: int
    limit_by: str


class _Seen:
    """Keys seen so far with the line each was first on; a dict, then a temporary SQLite file."""

    def __init__(self) -> None:
        self._memory: dict[bytes, int] = {}
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._db: sqlite3.Connection | None = None

    def first(self, key: str, line: int) -> int | None:
        """The line `key` was first seen on, or None (and remember it at `line`)."""
        digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
        if self._db is None:
            earlier = self._memory.setdefault(digest, line)
            if len(self._memory) > SPILL_AT:
                self._spill()
            return None if earlier == line else earlier
        found = self._db.execute("SELECT line FROM seen WHERE key = ?", (digest,)).fetchone()
        if found is not None:
            return int(found[0])
        self._db.execute("INSERT INTO seen VALUES (?, ?)", (digest, line))
        return None

    def _spill(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="batchgen-rows-")
        self._db = sqlite3.connect(Path(self._folder.name) / "seen.sqlite", isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-4000"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("CREATE TABLE seen (key BLOB PRIMARY KEY, line INTEGER) WITHOUT ROWID")
        self._db.execute("BEGIN")
        self._db.executemany("INSERT INTO seen VALUES (?, ?)", self._memory.items())
        self._memory = {}

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
        if self._folder is not None:
            self._folder.cleanup()


@dataclass
class _Scan:
    source: RowSource
    needs: Needs
    defaults: Defaults
    problems: list[str] = dataclasses.field(default_factory=list)
    skipped: set[int] = dataclasses.field(default_factory=set)
    distinct: int = 0
    tasks: Counter[str] = dataclasses.field(default_factory=Counter)
    images: Counter[str] = dataclasses.field(default_factory=Counter)

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def row(self, row: rows.Row, seen: _Seen) -> None:
        where = f"{self.source.path}:{row.line}"
        try:
            ident = rows.row_id(self.source, row)
            found = rows.overrides(self.source, row)
        except rows.RowError as exc:
            self.problem(str(exc))
            return
        missing = [name for name in self.needs.fields if name not in row.fields]
        if missing:
            self.problem(f"{where}: no field {missing[0]!r} (the template uses {{{missing[0]}}})")
            return
        self.check_length(row, where)
        key = ident if ident is not None else self.identity(row, found)
        earlier = seen.first(key, row.line)
        if earlier is not None and ident is not None:
            self.problem(f"{where}: duplicate id {ident!r} (first on line {earlier})")
            return
        if earlier is not None:
            self.skipped.add(row.line)  # the same task again: made once
            return
        self.count(found)

    def identity(self, row: rows.Row, found: rows.Overrides) -> str:
        """What makes a row without an id a task of its own: the fields its prompt uses and
        what it overrides (two rows alike in these are one task)."""
        used = {name: row.fields[name] for name in self.needs.fields}
        return json.dumps([used, repr(found)], sort_keys=True)

    def check_length(self, row: rows.Row, where: str) -> None:
        fields = {**{name: row.fields[name] for name in self.needs.fields}}
        fields.update(self.needs.longest_vars)
        size = len(self.needs.template.format_map(fields))
        if size > self.needs.limit:
            self.problem(
                f"{where}: the prompt is {size} characters; "
                f"{self.needs.limit_by} accepts at most {self.needs.limit}"
            )

    def count(self, found: rows.Overrides) -> None:
        defaults = self.defaults
        models = found.models or defaults.models
        seeds: tuple[int | None, ...] = found.seeds or defaults.seeds
        per_model = (
            len(found.aspect_ratios or defaults.aspect_ratios)
            * len(seeds)
            * defaults.prompts_per_row
        )
        images = per_model * (found.num_images or defaults.num_images)
        for model in models:
            self.tasks[model] += per_model
            self.images[model] += images
        self.distinct += 1


def scan(source: RowSource, needs: Needs, defaults: Defaults) -> tuple[RowSource, list[str]]:
    """The source with its count and skipped lines, and every problem (file:line: ...)."""
    state = _Scan(source, needs, defaults)
    seen = _Seen()
    try:
        for row in rows.read_rows(source):
            state.row(row, seen)
            if len(state.problems) >= MAX_PROBLEMS:
                state.problem(f"{source.path}: stopped after {MAX_PROBLEMS} problems")
                break
    except rows.RowError as exc:
        state.problem(str(exc))
    finally:
        seen.close()
    if not state.problems and state.distinct == 0:
        state.problem(f"{source.path}: no rows; expected at least one record")
    count = RowCount(state.distinct, dict(state.tasks), dict(state.images))
    checked = dataclasses.replace(source, skip_lines=frozenset(state.skipped), count=count)
    return checked, state.problems
