"""A prompt entry's `rows:` from the manifest: the source it names, the fields it offers, and
the checks that need the file's header (the rows themselves are checked in rowcheck.py)."""

from __future__ import annotations

import csv
import difflib
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from batchgen.manifest import rowcheck, rows
from batchgen.manifest.sources import KeyPath, Problem
from batchgen.models import ROW_FORMATS, PromptSpec, RowSource

DEFAULTS_FROM: tuple[tuple[str], ...] = (
    ("models",),
    ("aspect_ratios",),
    ("seeds",),
    ("num_images",),
)
TEXT_TEMPLATE = "{" + rows.TEXT_FIELD + "}"  # a text file's line is the prompt as written


def source_of(raw: dict[str, Any], base: Path) -> RowSource:
    """The RowSource a (schema-valid) `rows:` mapping names; paths are relative to `base`."""
    kind = next(kind for kind in ROW_FORMATS if kind in raw)
    return RowSource(
        path=base / str(raw[kind]),
        format=kind,
        id_column=raw.get("id_column"),
        columns=dict(raw.get("columns", {})),
    )


def field_names(source: RowSource) -> list[str]:
    """The fields a row offers: a CSV header, a JSONL file's first record, or `prompt`."""
    if source.format == "text":
        return [rows.TEXT_FIELD]
    try:
        if source.format == "csv":
            return [name for name in rows.csv_header(source.path) if name]
        return rows.jsonl_keys(source.path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        expected = "paths are relative to the manifest's directory"
        raise rows.RowError(f"cannot read {source.path}: {reason}; {expected}") from exc


def entry_fields(item: Any, base: Path) -> list[str]:
    """The row fields a prompt entry offers, or [] when it has no readable rows (quietly: the
    entry's own check says why)."""
    raw = item.get("rows") if isinstance(item, dict) else None
    if not isinstance(raw, dict) or not any(kind in raw for kind in ROW_FORMATS):
        return []
    try:
        return field_names(source_of(raw, base))
    except (rows.RowError, TypeError):
        return []


def header_problems(source: RowSource, names: list[str], path: KeyPath) -> list[Problem]:
    """id_column and rows.columns must name columns the file has (a JSONL record may leave a
    column out: its cell is then empty)."""
    if source.format != "csv":
        return []
    wanted: list[tuple[KeyPath, str]] = [
        ((*path, "columns", k), c) for k, c in source.columns.items()
    ]
    if source.id_column is not None:
        wanted.insert(0, ((*path, "id_column"), source.id_column))
    return [
        Problem(where, _no_column(column, names, source.path))
        for where, column in wanted
        if column not in names
    ]


def _no_column(column: str, names: list[str], file: Path) -> str:
    close = difflib.get_close_matches(column, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"no column {column!r} in {file}; {hint}expected one of {', '.join(names)}"


def clashes(
    filename_names: list[str], job_fields: tuple[str, ...], fields: dict[str, str]
) -> list[str]:
    """Messages for each placeholder of output.filename that is the job's own and also a row
    field or var (`fields`: name -> where it comes from): the job's placeholders are reserved."""
    return [
        f"{{{name}}} is the job's own placeholder and also {fields[name]}; the job's "
        f"placeholders ({', '.join(job_fields)}) cannot be shadowed: use another field in "
        "the filename, or rename that column or var"
        for name in dict.fromkeys(filename_names)
        if name in job_fields and name in fields
    ]


def named_by_rows(values: dict[str, Any], names: list[str]) -> bool:
    """Do rows' ids name every file apart, so output.filename needs no {task_id}? Yes when every
    prompt entry has rows with ids, and the filename holds the id and everything else that
    varies (model, aspect, seed, vars), including what a row may override."""
    items = values.get("prompts")
    if not isinstance(items, list) or not items:
        return False
    return all(_entry_named(values, item, names) for item in items)


def _entry_named(values: dict[str, Any], item: Any, names: list[str]) -> bool:
    raw = item.get("rows") if isinstance(item, dict) else None
    if not isinstance(raw, dict) or "text" in raw:
        return False
    ident = raw.get("id_column") or (rows.JSONL_ID if "jsonl" in raw else None)
    columns = raw.get("columns")
    columns = columns if isinstance(columns, dict) else {}
    varying = {
        "model": _many(values.get("models")) or "model" in columns,
        "aspect": _many(values.get("aspect_ratios")) or "aspect_ratio" in columns,
        "seed": _many(values.get("seeds")) or "seed" in columns,
        "index": values.get("num_images", 1) != 1 or "num_images" in columns,
    }
    needed = [ident, *(name for name, varies in varying.items() if varies)]
    needed += list(item.get("vars") or {})
    return all(name in names for name in needed)


def _many(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 1


def distinct(specs: Iterable[PromptSpec]) -> tuple[PromptSpec, ...]:
    """Prompt entries without repeats: the same entry twice makes the same tasks, which are
    counted, run and reported once (never left 'pending' for ever)."""
    seen: set[tuple[Any, ...]] = set()
    kept = []
    for spec in specs:
        key = _spec_key(spec)
        if key not in seen:
            seen.add(key)
            kept.append(spec)
    return tuple(kept)


def _spec_key(spec: PromptSpec) -> tuple[Any, ...]:
    source = spec.rows
    where = None
    if source is not None:
        where = (
            source.path,
            source.format,
            source.id_column,
            tuple(sorted(source.columns.items())),
        )
    return (spec.template if spec.is_template else ("plain", spec.template), spec.vars, where)


def defaults(values: dict[str, Any], spec: PromptSpec) -> rowcheck.Defaults:
    """The manifest's own values (schema-checked), which each row may override."""
    seeds = tuple(int(seed) for seed in _as_list(values.get("seeds", [])))
    return rowcheck.Defaults(
        models=tuple(_as_list(values["models"])),
        aspect_ratios=tuple(_as_list(values.get("aspect_ratios", "1:1"))),
        seeds=seeds or (None,),
        num_images=int(values.get("num_images", 1)),
        prompts_per_row=math.prod(len(v) for _, v in spec.vars),
    )


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def filename_fields(prompts: Any, base: Path) -> dict[str, str]:
    """Every var and row field a prompt entry offers output.filename, and where it is from."""
    found: dict[str, str] = {}
    for i, item in enumerate(prompts if isinstance(prompts, list) else []):
        if not isinstance(item, dict):
            continue
        for name in entry_fields(item, base):
            found.setdefault(name, f"a field of prompts[{i}].rows")
        if isinstance(item.get("vars"), dict):
            for name in item["vars"]:
                if isinstance(name, str):
                    found.setdefault(name, f"a var of prompts[{i}]")
    return found
