"""Disk full mid-run, and SIGTERM: a clear message, a consistent journal, a rerun that finishes."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import (
    FAST,
    check_run_dir,
    image_files,
    journal_rows,
    many_prompts,
    part_files,
    png_is_whole,
    write_manifest,
)

JOB = f"""
    version: 1
    name: disk
    provider: {{kind: emulator, time_scale: 0, image_bytes: small}}
    models: [{FAST}]
    limits: {{concurrency: 4}}
    {many_prompts(40)}
"""


def _small_disk() -> None:
    """Runs in the child: no file may grow past 400 KB, as if the disk were full. The
    journal's log reaches that part way through the job (the images are ~100 KB each)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))


def test_a_full_disk_stops_cleanly_and_the_rerun_continues(tmp_path: Path) -> None:
    job = write_manifest(tmp_path, JOB.replace(many_prompts(40), many_prompts(100)))
    command = [sys.executable, "-m", "batchgen", "run", str(job)]
    full = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, preexec_fn=_small_disk, timeout=120
    )
    assert full.returncode == 1, full.stdout + full.stderr
    assert "Traceback" not in full.stderr
    assert "disk full" in full.stderr  # from the journal or the sink, whichever hits it first
    run_dir = tmp_path / "out" / "disk"
    assert part_files(run_dir) == []
    done = journal_rows(run_dir, "SELECT COUNT(*) FROM tasks WHERE status = 'done'")[0][0]
    assert done < 100
    # every file there is whole and known to the journal (a row whose rename never happened
    # is allowed: the next run drops it)
    known = {row[0] for row in journal_rows(run_dir, "SELECT path FROM images")}
    assert image_files(run_dir) <= known
    assert all(png_is_whole(run_dir / path) for path in image_files(run_dir))

    rerun = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert check_run_dir(run_dir) == 100


def test_sigterm_finishes_in_flight_work_writes_the_report_and_exits_130(tmp_path: Path) -> None:
    job = write_manifest(tmp_path, JOB.replace("time_scale: 0", "time_scale: 0.05"))
    command = [sys.executable, "-m", "batchgen", "run", str(job)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    run_dir = tmp_path / "out" / "disk"
    deadline = time.monotonic() + 60
    while not (run_dir / "journal.sqlite").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.8)  # some requests are in flight now (Fast ~0.25 s each)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output.decode()
    assert b"stopped by SIGTERM" in output
    report = json.loads((run_dir / "report.json").read_text())
    assert 0 < report["tasks"]["done"] < 40
    assert part_files(run_dir) == []
    assert check_run_dir(run_dir) == report["tasks"]["done"]
