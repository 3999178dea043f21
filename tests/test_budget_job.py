"""A job-wide cap (`budget: {max_usd, scope: job}`) holds across reruns killed with SIGKILL:
what earlier runs recorded in the journal counts against it."""

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

from batchgen.report.read import job_spend_usd
from batchgen.store.journal import Journal
from tests.helpers import FAST, emulator_process, emulator_stats, many_prompts, write_manifest

pytestmark = pytest.mark.slow
CAP = 0.5
WORST = 2 * 0.021  # one request: two Fast images
CONCURRENCY = 4


def _billed(url: str) -> float:
    return float(emulator_stats(url)["usd_billed"])


def _runs(run_dir: Path) -> int:
    """Runs the journal has begun (0 before the first has made it)."""
    try:
        with sqlite3.connect(f"file:{run_dir / 'journal.sqlite'}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
    except sqlite3.Error:
        return 0


def _job_spend(run_dir: Path) -> float:
    journal = Journal.open_readonly(run_dir)
    try:
        return job_spend_usd(journal)
    finally:
        journal.close()


def test_a_job_cap_holds_over_three_killed_reruns(tmp_path: Path) -> None:
    with emulator_process("--time-scale", "0.05", "--image-bytes", "small") as url:
        job = write_manifest(tmp_path, f"""
            version: 1
            name: capped
            provider: {{kind: emulator, base_url: "{url}"}}
            models: [{FAST}]
            num_images: 2
            limits: {{concurrency: {CONCURRENCY}}}
            budget: {{max_usd: {CAP}, scope: job}}
            {many_prompts(120)}
        """)  # fmt: skip
        run_dir = tmp_path / "out" / "capped"
        command = [sys.executable, "-m", "batchgen", "run", str(job)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        spends: list[float] = []
        for delay in (0.4, 0.6, 0.5):
            run = subprocess.Popen(
                command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            deadline = time.monotonic() + 60  # kill once this run is in the journal
            while _runs(run_dir) < len(spends) + 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(delay)
            run.send_signal(signal.SIGKILL)
            run.wait(timeout=30)
            spends.append(_job_spend(run_dir))
            assert spends[-1] <= CAP + 1e-9
        print("job spend after each kill", spends)
        # the first killed run spent something (its paid log counts), and spend never goes
        # back; a later run may find the job already at its cap and add nothing
        assert 0 < spends[0] < spends[1] <= spends[2]
        final = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=120)
        assert final.returncode == 1, final.stderr.decode()[-2000:]
        assert "budget reached" in final.stderr.decode() + final.stdout.decode()
        spent = _job_spend(run_dir)
        assert CAP - WORST < spent <= CAP + 1e-9  # the whole job, not each run, reached the cap
        report = json.loads((run_dir / "report.json").read_text())
        assert report["cost_usd"]["budget"] == {
            "max_usd": CAP,
            "scope": "job",
            "job_spent_usd": spent,
        }
        # the provider billed only what the journal knows, plus requests in flight at a kill
        assert _billed(url) <= CAP + 3 * CONCURRENCY * WORST + 1e-9
        again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=120)
        assert again.returncode == 1 and _job_spend(run_dir) == pytest.approx(spent)
