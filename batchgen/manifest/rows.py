"""Row sources: the records of a CSV, JSONL or text file, streamed one at a time (never held
whole), and each row's overrides read from the columns the manifest names."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchgen.errors import ManifestError
from batchgen.models import ASPECT_RATIOS, RowSource

TEXT_FIELD = "prompt"  # the one field of a text file's row: the line
JSONL_ID = "id"  # a JSONL record's id field when rows.id_column is not given
MAX_SEED = 4_294_967_295
SET_BY_BATCHGEN = ("model", "prompt", "aspect_ratio", "num_images", "seed", "api_key")
_SPLIT = re.compile(r"[\s,;|]+")


class RowError(Exception):
    """A row that cannot be read or used; the message is located (file:line: ...)."""


@dataclass(frozen=True, slots=True)
class Row:
    line: int  # 1-based line where the record ends in its file
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class Overrides:
    """What one row sets through rows.columns; None: the manifest's own value."""

    models: tuple[str, ...] | None = None
    aspect_ratios: tuple[str, ...] | None = None
    num_images: int | None = None
    seeds: tuple[int, ...] | None = None
    params: Mapping[str, Any] | None = None  # merged over the manifest's params


def read_rows(source: RowSource) -> Iterator[Row]:
    """Every non-blank record, in file order; RowError names file:line for a bad one."""
    readers = {"csv": _csv_rows, "jsonl": _jsonl_rows, "text": _text_rows}
    try:
        yield from readers[source.format](source.path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise RowError(f"{source.path}: cannot read it: {reason}") from exc


def csv_header(path: Path) -> list[str]:
    """The column names of a CSV file (its first row)."""
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return [cell.strip() for cell in next(csv.reader(stream), [])]


def jsonl_keys(path: Path) -> list[str]:
    """The keys of a JSONL file's first record: the fields a manifest may name."""
    for row in _jsonl_rows(path):
        return list(row.fields)
    return []


def _csv_rows(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        reader = csv.reader(stream)
        header = [cell.strip() for cell in next(reader, [])]
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(header):
                raise RowError(
                    f"{path}:{reader.line_num}: {len(cells)} cells but the header names "
                    f"{len(header)} columns; quote cells that hold commas"
                )
            fields = {
                name: cells[i].strip() if i < len(cells) else "" for i, name in enumerate(header)
            }
            yield Row(reader.line_num, fields)


def _jsonl_rows(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig") as stream:
        for line, text in enumerate(stream, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise RowError(f"{path}:{line}: not JSON ({exc.msg}, column {exc.colno})") from exc
            if not isinstance(record, dict):
                raise RowError(f"{path}:{line}: expected a JSON object per line, got {text[:40]!r}")
            yield Row(line, {str(key): _cell(value) for key, value in record.items()})


def _text_rows(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig") as stream:
        for line, text in enumerate(stream, start=1):
            if text.strip():
                yield Row(line, {TEXT_FIELD: text.strip()})


def _cell(value: Any) -> str:
    """A JSON value as a field: text as is, numbers as written, objects as compact JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def row_id(source: RowSource, row: Row) -> str | None:
    """The user's key for a row: its id_column, or a JSONL record's `id`; None when none."""
    column = source.id_column or (JSONL_ID if source.format == "jsonl" else None)
    if column is None:
        return None
    value = row.fields.get(column, "")
    if value:
        return value
    if source.id_column is None:
        return None  # a JSONL record may simply have no id
    raise RowError(
        f"{source.path}:{row.line}: column {column}: the id is empty; every row needs one"
    )


def overrides(source: RowSource, row: Row) -> Overrides:
    """The row's overrides from rows.columns; RowError (file:line: column X: ...) for a bad cell."""
    found: dict[str, Any] = {}
    for key, column in source.columns.items():
        cell = row.fields.get(column, "")
        if not cell:
            continue  # an empty cell keeps the manifest's value
        try:
            found[key] = _READ[key](cell)
        except ValueError as exc:
            raise RowError(f"{source.path}:{row.line}: column {column}: {exc}") from None
    params = dict(found.pop("params", {}))
    if "negative_prompt" in found:
        params["negative_prompt"] = found.pop("negative_prompt")
    return Overrides(
        models=found.get("model"),
        aspect_ratios=found.get("aspect_ratio"),
        num_images=found.get("num_images"),
        seeds=found.get("seed"),
        params=params or None,
    )


def _aspects(cell: str) -> tuple[str, ...]:
    values = tuple(dict.fromkeys(part for part in _SPLIT.split(cell) if part))
    for value in values:
        if value not in ASPECT_RATIOS:
            raise ValueError(f"{value!r} is not allowed; expected {', '.join(ASPECT_RATIOS)}")
    return values


def _models(cell: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(part for part in _SPLIT.split(cell) if part))


def _num_images(cell: str) -> int:
    if not cell.isdigit() or not 1 <= int(cell) <= 4:
        raise ValueError(f"{cell!r} is not allowed; expected an integer from 1 to 4")
    return int(cell)


def _seeds(cell: str) -> tuple[int, ...]:
    parts = [part for part in _SPLIT.split(cell) if part]
    for part in parts:
        if not part.isdigit() or int(part) > MAX_SEED:
            raise ValueError(f"{part!r} is not allowed; expected seeds from 0 to {MAX_SEED}")
    return tuple(dict.fromkeys(int(part) for part in parts))


def _params(cell: str) -> dict[str, Any]:
    try:
        value = json.loads(cell)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise ValueError(f"{cell[:40]!r} is not allowed; expected a JSON object of params")
    for key in value:
        if key in SET_BY_BATCHGEN:
            raise ValueError(f"params key {key!r} is set by batchgen; remove it")
    return value


_READ: dict[str, Any] = {
    "aspect_ratio": _aspects,
    "model": _models,
    "num_images": _num_images,
    "seed": _seeds,
    "negative_prompt": str,
    "params": _params,
}


def manifest_error(exc: RowError) -> ManifestError:
    return ManifestError([str(exc)])
