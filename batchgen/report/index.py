"""The outputs index: index.jsonl and index.csv, one line per rendered image (row id and fields,
model, aspect, seed, pixel size, bytes, sha256, path), and optional per-image sidecar JSON files.
Streamed from the journal alone, so `batchgen report` rebuilds them and a million images cost
no more memory than ten."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from batchgen.models import ORIGINAL_SIZE
from batchgen.report.names import BUCKET_META as BUCKET_META  # its older home
from batchgen.report.names import PUBLIC_URL_META as PUBLIC_URL_META
from batchgen.report.names import SIDECAR_META as SIDECAR_META
from batchgen.report.read import INDEX_COLUMNS as COLUMNS
from batchgen.report.read import index_row_keys, index_rows
from batchgen.report.written import write_text, written
from batchgen.store import variants
from batchgen.store.journal import Journal

INDEX_JSONL = "index.jsonl"
INDEX_CSV = "index.csv"
INDEX_FILES = (INDEX_JSONL, INDEX_CSV)
EXTRA_COLUMNS = ("size", "url")  # after INDEX_COLUMNS, before the row's fields
ROW_PREFIX = "row."  # index.csv names a row's fields row.<name>, apart from its own columns


def entries(journal: Journal) -> Iterator[dict[str, Any]]:
    """Each rendered file's index entry, in job order (streamed): one per image, or with
    output.sizes one per derived file, its `size` saying which ("original", "400", ...)."""
    base = _url_base(journal)
    for values in index_rows(journal):
        entry = dict(zip(COLUMNS, values[:-2], strict=True))
        entry["size"] = ORIGINAL_SIZE
        entry["row"] = json.loads(values[-1]) if values[-1] else {}
        files = variants.load(values[-2])
        for each in [{**entry, **asdict(file)} for file in files] or [entry]:
            each["url"] = f"{base}/{each['path']}" if base else each["path"]
            yield each


def _url_base(journal: Journal) -> str:
    """What `url` puts before a file's `path`: output.public_url, else the bucket's URL
    (s3://bucket/prefix), else nothing (a local file's url is its path in the run directory)."""
    return (journal.meta(PUBLIC_URL_META) or journal.meta(BUCKET_META) or "").rstrip("/")


def write_index(run_dir: Path, journal: Journal, *, sidecar: bool | None = None) -> int:
    """Write index.jsonl and index.csv atomically (and sidecars when asked, or when the run
    asked for them: journal meta); return how many images they list."""
    if sidecar is None:
        sidecar = journal.meta(SIDECAR_META) == "1"
    row_keys = index_row_keys(journal)
    count = 0
    with (
        written(run_dir / INDEX_JSONL) as jsonl_part,
        written(run_dir / INDEX_CSV) as csv_part,
        jsonl_part.open("w", encoding="utf-8") as jsonl,
        csv_part.open("w", newline="", encoding="utf-8") as table,
    ):
        writer = csv.writer(table)
        header = (*COLUMNS, *EXTRA_COLUMNS)
        writer.writerow((*header, *(ROW_PREFIX + key for key in row_keys)))
        for entry in entries(journal):
            line = json.dumps(entry, ensure_ascii=False)
            jsonl.write(line + "\n")
            row = entry["row"]
            cells = (*(entry[c] for c in header), *(row.get(k, "") for k in row_keys))
            writer.writerow(cells)
            if sidecar:
                _write_sidecar(run_dir, entry, line)
            count += 1
    return count


def sidecar_path(image_path: str) -> str:
    """images/MUG-001/1x1-0.png -> images/MUG-001/1x1-0.json (beside the image)."""
    return str(Path(image_path).with_suffix(".json"))


def _write_sidecar(run_dir: Path, entry: dict[str, Any], line: str) -> None:
    target = run_dir / sidecar_path(entry["path"])
    if not target.parent.is_dir():
        return  # the image's folder is gone (deleted by hand): no sidecar without its image
    write_text(target, line + "\n")
