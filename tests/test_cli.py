"""The command line through click's CliRunner, and Ctrl-C on a real process."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from batchgen.cli import main
from tests.helpers import FAST, check_run_dir, many_prompts, part_files, write_manifest

EMULATOR_JOB = f"""
    version: 1
    name: clijob
    provider: {{kind: emulator, time_scale: 0, image_bytes: small}}
    models: [{FAST}]
    aspect_ratios: ["1:1", "16:9"]
    {many_prompts(6)}
"""


def test_validate_good_and_bad(runner: CliRunner, tmp_path: Path) -> None:
    good = write_manifest(tmp_path, EMULATOR_JOB)
    result = runner.invoke(main, ["validate", str(good)])
    assert result.exit_code == 0 and "ok (12 tasks)" in result.output

    bad = write_manifest(tmp_path, EMULATOR_JOB, "bad.yaml")  # six lines, then two bad ones
    bad.write_text(bad.read_text() + "aspect_ratio: ['2:1']\nnum_images: 9\n")
    result = runner.invoke(main, ["validate", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:7:1: unknown key 'aspect_ratio'; did you mean 'aspect_ratios'?" in result.output
    assert f"{bad}:8:13: num_images:" in result.output


def test_schema_is_json_schema(runner: CliRunner) -> None:
    result = runner.invoke(main, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert "prompts" in schema["properties"] and "version" in schema["required"]


def test_plan_sends_nothing_and_estimates(runner: CliRunner, tmp_path: Path) -> None:
    job = write_manifest(tmp_path, EMULATOR_JOB.replace("time_scale: 0,", "time_scale: 1,"))
    result = runner.invoke(main, ["plan", str(job)])
    assert result.exit_code == 0
    assert "12 tasks, 12 images" in result.output
    assert "estimated cost $0.25" in result.output  # 12 x $0.021
    assert "duration ~4s" in result.output  # 12 x 5 s / 16 in flight
    assert not (tmp_path / "out").exists()


def test_run_then_rerun(runner: CliRunner, tmp_path: Path) -> None:
    job = write_manifest(tmp_path, EMULATOR_JOB)
    first = runner.invoke(main, ["run", str(job)])
    assert first.exit_code == 0, first.output
    assert "clijob: 12 of 12 tasks rendered (12 images), 0 failed" in first.output
    assert check_run_dir(tmp_path / "out" / "clijob") == 12

    again = runner.invoke(main, ["run", str(job)])
    assert again.exit_code == 0 and "this run 0 done" in again.output

    fresh = runner.invoke(
        main, ["run", str(job), "--fresh", "--out", "elsewhere", "--concurrency", "2"]
    )
    assert fresh.exit_code == 0 and "this run 12 done" in fresh.output
    assert check_run_dir(tmp_path / "elsewhere") == 12


def test_failed_tasks_exit_1_with_the_reason(runner: CliRunner, tmp_path: Path) -> None:
    job = write_manifest(
        tmp_path,
        EMULATOR_JOB.replace("image_bytes: small", "image_bytes: small, faults: 'policy=1'"),
    )
    result = runner.invoke(main, ["run", str(job)])
    assert result.exit_code == 1
    assert "12 failed" in result.output and "failed (rejected): 12" in result.output
    assert "HTTP 400" in result.output


def test_budget_flag_stops_the_run(runner: CliRunner, tmp_path: Path) -> None:
    job = write_manifest(tmp_path, EMULATOR_JOB)
    result = runner.invoke(main, ["run", str(job), "--max-usd", "0.05"])
    assert result.exit_code == 1
    assert "2 of 12 tasks rendered" in result.output and "stopped (budget)" in result.output


def test_missing_key_is_a_usage_error_naming_the_variable(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIMLAPI_API_KEY", raising=False)
    job = write_manifest(
        tmp_path,
        EMULATOR_JOB.replace(
            "{kind: emulator, time_scale: 0, image_bytes: small}", "{kind: aimlapi}"
        ),
    )
    result = runner.invoke(main, ["run", str(job)])
    assert result.exit_code == 2
    assert "AIMLAPI_API_KEY is not set" in result.output


def test_report_is_rebuilt_from_the_journal(runner: CliRunner, tmp_path: Path) -> None:
    job = write_manifest(tmp_path, EMULATOR_JOB)
    assert runner.invoke(main, ["run", str(job)]).exit_code == 0
    run_dir = tmp_path / "out" / "clijob"
    before = json.loads((run_dir / "report.json").read_text())
    (run_dir / "report.json").unlink()
    (run_dir / "tasks.csv").unlink()
    result = runner.invoke(main, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    after = json.loads((run_dir / "report.json").read_text())
    for key in ("tasks", "images", "latency_s", "cost_usd", "errors"):
        assert after[key] == before[key]
    assert len((run_dir / "tasks.csv").read_text().splitlines()) == 13


def _done(run_dir: Path) -> int:
    try:
        with sqlite3.connect(f"file:{run_dir / 'journal.sqlite'}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT COUNT(*) FROM tasks WHERE status = 'done'").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_ctrl_c_saves_state_exits_130_and_the_rerun_finishes(tmp_path: Path) -> None:
    body = EMULATOR_JOB.replace("time_scale: 0", "time_scale: 0.04")  # Fast ~0.2 s a request
    job = write_manifest(tmp_path, body.replace(many_prompts(6), many_prompts(40)))
    command = [sys.executable, "-m", "batchgen", "run", str(job), "--concurrency", "4"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    run_dir = tmp_path / "out" / "clijob"
    deadline = time.monotonic() + 60
    while _done(run_dir) < 4 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output.decode()
    assert b"stopped (interrupted)" in output
    done = _done(run_dir)
    assert 4 <= done < 80
    assert part_files(run_dir) == []
    assert json.loads((run_dir / "report.json").read_text())["tasks"]["done"] == done

    rerun = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=120)
    assert rerun.returncode == 0, rerun.stdout.decode() + rerun.stderr.decode()
    assert f"this run {80 - done} done".encode() in rerun.stdout
    assert check_run_dir(run_dir) == 80


def test_a_standalone_emulator_serves_a_run(tmp_path: Path, runner: CliRunner) -> None:
    command = [sys.executable, "-m", "batchgen", "emulator", "--port", "0", "--time-scale", "0"]
    server = subprocess.Popen(
        [*command, "--image-bytes", "small"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        banner = (
            server.stdout.readline()
        )  # "batchgen emulator listening on http://127.0.0.1:PORT ..."
        url = banner.split(" on ")[1].split()[0]
        job = write_manifest(
            tmp_path,
            EMULATOR_JOB.replace("time_scale: 0, image_bytes: small", f"base_url: '{url}'"),
        )
        result = runner.invoke(main, ["run", str(job)])
        assert result.exit_code == 0, result.output
        assert check_run_dir(tmp_path / "out" / "clijob") == 12
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
    assert server.returncode == 0


def test_a_run_that_dies_early_is_still_recorded(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIMLAPI_API_KEY", raising=False)
    job = write_manifest(tmp_path, EMULATOR_JOB.replace(
        "{kind: emulator, time_scale: 0, image_bytes: small}", "{kind: aimlapi}"
    ))  # fmt: skip
    assert runner.invoke(main, ["run", str(job)]).exit_code == 2
    with sqlite3.connect(tmp_path / "out" / "clijob" / "journal.sqlite") as db:
        assert db.execute("SELECT status, wall_s >= 0 FROM runs").fetchall() == [("aborted", 1)]
