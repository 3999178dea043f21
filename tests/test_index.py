"""Catalog runs on the emulator: files by row id, index.jsonl / index.csv that match the files on
disk, sidecars, `batchgen report` rebuilding them, reruns that render nothing new."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from batchgen.cli import main
from batchgen.store.journal import Journal
from tests.helpers import EMULATOR, FAST, check_run_dir, image_files, journal_rows, write_manifest


def job(rows: str, filename: str = "{sku}/{aspect}-{index}.{ext}", extra: str = "") -> str:
    return f"""
        version: 1
        name: shop
        provider: {EMULATOR}
        models: [{FAST}]
        aspect_ratios: ["1:1", "3:4"]
        num_images: 2
        prompts:
          - template: "Studio photo of a {{color}} {{name}}"
            rows: {rows}
        output: {{filename: "{filename}"{extra}}}
    """


def write_rows(folder: Path, lines: list[str], name: str = "p.csv") -> None:
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


PRODUCTS = ["sku,name,color,category"] + [
    f"S-{i},item {i},{color},c{i % 2}" for i, color in enumerate(["red", "blue", "green", "grey"])
]


def read_index(run_dir: Path) -> list[dict[str, object]]:
    lines = (run_dir / "index.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_index_lists_every_file_with_its_row_and_true_sha256(
    runner: CliRunner, tmp_path: Path
) -> None:
    write_rows(tmp_path, PRODUCTS)
    manifest = write_manifest(tmp_path, job("{csv: p.csv, id_column: sku}"))
    result = runner.invoke(main, ["run", str(manifest), "--out", "run"])
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "run"
    assert check_run_dir(run_dir) == 4 * 2 * 2
    entries = read_index(run_dir)
    assert {entry["path"] for entry in entries} == image_files(run_dir)
    for entry in entries:
        data = (run_dir / str(entry["path"])).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
        row = entry["row"]
        assert isinstance(row, dict) and entry["row_id"] == row["sku"]
        assert entry[
            "path"
        ] == f"images/{row['sku']}/{entry['aspect_ratio']}-{entry['index']}.png".replace(":", "x")
        assert entry["model"] == FAST and entry["revised_prompt"] is None
    with (run_dir / "index.csv").open(encoding="utf-8", newline="") as stream:
        table = list(csv.DictReader(stream))
    assert [(r["path"], r["sha256"], r["row.sku"], r["row.color"]) for r in table] == [
        (e["path"], e["sha256"], e["row_id"], e["row"]["color"])  # type: ignore[index]
        for e in entries
    ]
    with (run_dir / "tasks.csv").open(encoding="utf-8", newline="") as stream:
        assert {row["row_id"] for row in csv.DictReader(stream)} == {"S-0", "S-1", "S-2", "S-3"}


def test_a_resorted_file_renders_nothing_new(runner: CliRunner, tmp_path: Path) -> None:
    write_rows(tmp_path, PRODUCTS)
    manifest = write_manifest(tmp_path, job("{csv: p.csv, id_column: sku}"))
    assert runner.invoke(main, ["run", str(manifest), "--out", "run"]).exit_code == 0
    before = {p: (tmp_path / "run" / p).stat().st_mtime_ns for p in image_files(tmp_path / "run")}
    write_rows(tmp_path, [PRODUCTS[0], *reversed(PRODUCTS[1:])])
    result = runner.invoke(main, ["run", str(manifest), "--out", "run"])
    assert result.exit_code == 0, result.output
    assert "this run 0 done" in result.output and "0 pending" in result.output
    after = {p: (tmp_path / "run" / p).stat().st_mtime_ns for p in image_files(tmp_path / "run")}
    assert after == before


def test_same_prompt_distinct_ids_gives_distinct_files_and_nothing_pending(
    runner: CliRunner, tmp_path: Path
) -> None:
    write_rows(tmp_path, ["sku,name,color", "A-1,mug,red", "A-2,mug,red"])
    manifest = write_manifest(tmp_path, job("{csv: p.csv, id_column: sku}"))
    for _ in range(2):  # and again: nothing is ever left pending
        result = runner.invoke(main, ["run", str(manifest), "--out", "run"])
        assert result.exit_code == 0, result.output
        assert "4 of 4 tasks rendered (8 images), 0 failed, 0 pending" in result.output
    files = image_files(tmp_path / "run")
    assert len(files) == 8 and {f.split("/")[1] for f in files} == {"A-1", "A-2"}


def test_identical_rows_are_one_task_in_plan_run_and_summary(
    runner: CliRunner, tmp_path: Path
) -> None:
    write_rows(tmp_path, ["name,color", "mug,red", "lamp,blue", "mug,red"])
    filename = "{prompt_slug}-{aspect}-{task_id}-{index}.{ext}"
    manifest = write_manifest(tmp_path, job("{csv: p.csv}", filename))
    assert "4 tasks, 8 images" in runner.invoke(main, ["plan", str(manifest)]).output
    for _ in range(2):
        result = runner.invoke(main, ["run", str(manifest), "--out", "run"])
        assert result.exit_code == 0, result.output
        assert "4 of 4 tasks rendered (8 images), 0 failed, 0 pending" in result.output
    summary = json.loads((tmp_path / "run" / "report.json").read_text())
    assert summary["tasks"] == {"planned": 4, "done": 4, "failed": 0, "pending": 0}


def test_sidecars_and_report_rebuild_the_index(runner: CliRunner, tmp_path: Path) -> None:
    write_rows(tmp_path, PRODUCTS[:3])
    manifest = write_manifest(
        tmp_path, job("{csv: p.csv, id_column: sku}", extra=", sidecar: true")
    )
    assert runner.invoke(main, ["run", str(manifest), "--out", "run"]).exit_code == 0
    run_dir = tmp_path / "run"
    entries = read_index(run_dir)
    sidecars = sorted(run_dir.rglob("images/**/*.json"))
    assert len(sidecars) == len(entries) == 2 * 2 * 2
    first = entries[0]
    sidecar = run_dir / str(first["path"]).replace(".png", ".json")
    assert json.loads(sidecar.read_text()) == first
    for path in (run_dir / "index.jsonl", run_dir / "index.csv", *sidecars):
        path.unlink()
    result = runner.invoke(main, ["report", "run"])
    assert result.exit_code == 0, result.output
    assert read_index(run_dir) == entries
    assert sorted(run_dir.rglob("images/**/*.json")) == sidecars
    assert len((run_dir / "index.csv").read_text().splitlines()) == len(entries) + 1


def test_a_jsonl_catalog_runs_with_its_ids(runner: CliRunner, tmp_path: Path) -> None:
    records = [{"id": f"J{i}", "name": "cup", "color": "red"} for i in range(3)]
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    manifest = write_manifest(tmp_path, job("{jsonl: c.jsonl}", "{id}/{aspect}-{index}.{ext}"))
    result = runner.invoke(main, ["run", str(manifest), "--out", "run"])
    assert result.exit_code == 0, result.output
    ids = journal_rows(tmp_path / "run", "SELECT DISTINCT row_id FROM tasks ORDER BY row_id")
    assert ids == [("J0",), ("J1",), ("J2",)]
    assert {entry["row_id"] for entry in read_index(tmp_path / "run")} == {"J0", "J1", "J2"}


def test_an_older_journal_gets_the_new_columns(tmp_path: Path) -> None:
    Journal.open(tmp_path).close()
    with sqlite3.connect(tmp_path / "journal.sqlite") as conn:
        conn.execute("ALTER TABLE images DROP COLUMN sha256")
        conn.execute("ALTER TABLE tasks DROP COLUMN row")
    Journal.open(tmp_path).close()
    columns = {row[1] for row in journal_rows(tmp_path, "PRAGMA table_info(images)")}
    assert "sha256" in columns
    assert "row" in {row[1] for row in journal_rows(tmp_path, "PRAGMA table_info(tasks)")}
