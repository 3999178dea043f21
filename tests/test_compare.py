"""`batchgen report`: one run's files rebuilt; two runs side by side, neither folder touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from batchgen.cli import main
from batchgen.report.compare import Row, comparison_rows, verdict
from batchgen.report.read import read_summary
from batchgen.report.summary import Summary
from batchgen.store.journal import Journal
from tests.helpers import FAST, many_prompts, write_manifest

JOB = f"""
    version: 1
    name: bench
    provider: {{kind: emulator, time_scale: 0, image_bytes: small}}
    models: [{FAST}]
    {many_prompts(8)}
"""


@pytest.fixture
def two_runs(runner: CliRunner, tmp_path: Path) -> tuple[Path, Path]:
    job = write_manifest(tmp_path, JOB)
    failing = write_manifest(
        tmp_path, JOB.replace("small}", "small, faults: 'policy=0.5'}"), "b.yaml"
    )
    assert runner.invoke(main, ["run", str(job), "--out", "a", "--concurrency", "1"]).exit_code == 0
    assert runner.invoke(main, ["run", str(failing), "--out", "b"]).exit_code == 1
    return tmp_path / "a", tmp_path / "b"


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
    }


def test_two_runs_side_by_side_touch_neither(
    runner: CliRunner, two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    a, b = two_runs
    before = snapshot(a), snapshot(b)
    result = runner.invoke(main, ["report", "a", "b", "--html", "cmp.html"])
    assert result.exit_code == 0, result.output
    assert (snapshot(a), snapshot(b)) == before  # no report, no -wal, no -shm
    table = result.stdout
    for label in ("images / s", "end-to-end p50", "end-to-end p99", "request p90", "queue p50",
                  "download p99", "cost", "cost per image", "failed tasks", "B/A"):  # fmt: skip
        assert label in table
    # both runs are the job "bench": the folders tell them apart
    assert "A: a " in table and "B: b " in table
    assert "settings that differ" in table and "limits.concurrency" in table
    page = (tmp_path / "cmp.html").read_text(encoding="utf-8")
    assert '<table id="comparison">' in page and "<svg" in page and "B: " in page


def test_the_comparison_as_json_has_the_ratios(
    runner: CliRunner, two_runs: tuple[Path, Path]
) -> None:
    a, b = two_runs
    result = runner.invoke(main, ["report", str(a), str(b), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = {row["metric"]: row for row in data["rows"]}
    assert rows["tasks rendered"]["a"] == 8 and rows["tasks rendered"]["b"] < 8
    failed = rows["failed tasks"]
    assert failed["a"] == 0 and failed["b"] > 0 and failed["b_over_a"] is None
    rate = rows["images / s"]
    assert rate["b_over_a"] == pytest.approx(rate["b"] / rate["a"])
    summary_a = json.loads((a / "report.json").read_text())
    assert rows["end-to-end p90"]["a"] == summary_a["latency_s"]["end_to_end"]["p90"]


def test_one_run_dir_rebuilds_every_report_file(runner: CliRunner, tmp_path: Path) -> None:
    job = write_manifest(tmp_path, JOB)
    assert runner.invoke(main, ["run", str(job), "--out", "a"]).exit_code == 0
    for name in ("report.json", "tasks.csv", "report.html"):
        (tmp_path / "a" / name).unlink()
    result = runner.invoke(main, ["report", "a"])
    assert result.exit_code == 0, result.output
    assert "bench: 8 of 8 tasks rendered (8 images), 0 failed" in result.stdout
    assert all((tmp_path / "a" / name).is_file() for name in ("report.json", "tasks.csv"))
    assert '<section id="gallery">' in (tmp_path / "a" / "report.html").read_text()
    as_json = runner.invoke(main, ["report", "a", "--json"])
    assert json.loads(as_json.stdout)["tasks"]["done"] == 8


def test_report_usage_errors(runner: CliRunner, tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    three = runner.invoke(main, ["report", "a", "b", "c"])
    assert three.exit_code == 2 and "or two to compare" in three.output
    html = runner.invoke(main, ["report", "a", "--html", "x.html"])
    assert html.exit_code == 2 and "--html is for comparing two runs" in html.output
    missing = runner.invoke(main, ["report", "a", "b"])
    assert missing.exit_code == 1 and "no batchgen journal in a" in missing.output
    alone = runner.invoke(main, ["report", "c"])
    assert alone.exit_code == 1 and "no batchgen journal in c" in alone.output
    assert not list(tmp_path.glob("[abc]/*"))  # nothing was created in any of them


def test_rows_ratio_and_verdict(tmp_path: Path) -> None:
    assert Row("x", 0, 5, "count", "lower").ratio is None
    assert Row("x", None, 5, "s", "lower").ratio is None
    assert verdict(Row("p50", 2.0, 1.0, "s", "lower")) == "better"
    assert verdict(Row("rate", 2.0, 1.0, "rate", "higher")) == "worse"
    assert verdict(Row("p50", 1.0, 1.04, "s", "lower")) == "same"  # within THRESHOLD (5%)
    # with intervals: a difference inside the noise is the same, one beyond it is marked
    noisy = Row("request p50", 1.0, 1.3, "s", "lower", (0.8, 1.2), (1.1, 1.5))
    assert verdict(noisy) == "same"
    clear = Row("request p50", 1.0, 1.3, "s", "lower", (0.95, 1.05), (1.25, 1.35))
    assert verdict(clear) == "worse"
    assert verdict(Row("images", 1.0, 9.0, "count", "neither")) == "same"
    empty = _empty_summary(tmp_path)
    assert all(row.ratio is None for row in comparison_rows(empty, empty))


def _empty_summary(folder: Path) -> Summary:
    """The summary of a journal with one finished run and no task at all."""
    journal = Journal.open(folder)
    try:
        run_id = journal.begin_run(name="empty", planned=0, started_at=1.0)
        journal.end_run(run_id, finished_at=1.0, wall_s=0.0, status="complete")
        return read_summary(journal, name="empty")
    finally:
        journal.close()
