"""The `process` phase: converting images (output.format/sizes) is timed apart from the download,
in the journal, report.json, tasks.csv, report.html and the run's summary lines; a run that
converts nothing has no such phase, and a run directory from before the column still reports."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from batchgen.cli import main
from batchgen.store.journal import JOURNAL_FILE
from tests.helpers import EMULATOR, FAST, journal_rows, write_manifest

CONVERTING = "{format: webp, quality: 70, sizes: [{width: 200}]}"


def job(output: str) -> str:
    return f"""
        version: 1
        name: shop
        provider: {EMULATOR}
        models: [{FAST}]
        num_images: 2
        prompts:
          - template: "Studio photo of a {{thing}}"
            vars: {{thing: [mug, lamp, vase]}}
        output: {output}
    """


def run(runner: CliRunner, tmp_path: Path, output: str, out: str = "run") -> tuple[Path, str]:
    manifest = write_manifest(tmp_path, job(output))
    result = runner.invoke(main, ["run", str(manifest), "--out", out])
    assert result.exit_code == 0, result.output
    return tmp_path / out, result.output


def phases(run_dir: Path) -> dict[str, dict[str, float | None]]:
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    latency: dict[str, dict[str, float | None]] = report["latency_s"]
    return latency


def tasks_csv(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "tasks.csv").open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def test_converting_is_its_own_phase_everywhere(runner: CliRunner, tmp_path: Path) -> None:
    run_dir, output = run(runner, tmp_path, CONVERTING)
    rows = journal_rows(run_dir, "SELECT process_s, download_s, total_s FROM tasks")
    assert len(rows) == 3
    for process_s, download_s, total_s in rows:
        # decoding, resizing and encoding two images takes some time; it is not in download
        assert process_s is not None and process_s > 0
        assert download_s >= 0 and process_s + download_s <= total_s
    process = phases(run_dir)["process"]
    assert process["count"] == 3
    assert process["p50"] is not None and process["max"] == max(r[0] for r in rows)
    table = tasks_csv(run_dir)
    assert sorted(float(r["process_s"]) for r in table) == sorted(r[0] for r in rows)
    assert "process p50" in output
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "<td>process</td>" in html


def test_a_run_that_converts_nothing_has_no_process_phase(
    runner: CliRunner, tmp_path: Path
) -> None:
    run_dir, output = run(runner, tmp_path, '{filename: "{task_id}-{index}.{ext}"}')
    assert journal_rows(run_dir, "SELECT process_s FROM tasks") == [(None,)] * 3
    assert phases(run_dir)["process"]["count"] == 0
    assert {r["process_s"] for r in tasks_csv(run_dir)} == {""}
    assert "process p50" not in output
    assert "<td>process</td>" not in (run_dir / "report.html").read_text(encoding="utf-8")


def test_a_run_directory_from_before_the_column_still_reports(
    runner: CliRunner, tmp_path: Path
) -> None:
    run_dir, _ = run(runner, tmp_path, CONVERTING)
    with sqlite3.connect(run_dir / JOURNAL_FILE) as conn:  # as an older batchgen left it
        conn.execute("ALTER TABLE tasks DROP COLUMN process_s")
    other, _ = run(runner, tmp_path, CONVERTING, out="other")
    compared = runner.invoke(main, ["report", str(run_dir), str(other), "--json"])
    assert compared.exit_code == 0, compared.output  # read-only: the column stays absent
    assert "process p50" in compared.output
    rebuilt = runner.invoke(main, ["report", str(run_dir)])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert phases(run_dir)["process"]["count"] == 0  # added empty: old tasks have no figure
    assert len(tasks_csv(run_dir)) == 3
