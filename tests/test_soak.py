"""Long runs (marked slow): a 5,000-task soak under every fault, and SIGKILL at random moments."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from batchgen.emulator import EmulatorConfig, parse_faults, running_emulator
from batchgen.models import ProviderConfig
from batchgen.run.job import RunOptions, run_job
from tests.helpers import (
    FAST,
    check_run_dir_fast,
    image_files,
    journal_rows,
    load,
    many_prompts,
    png_is_whole,
    write_manifest,
)

pytestmark = pytest.mark.slow
GENERATION_FAULTS = ("429", "500", "502", "503", "504", "reset", "badjson", "html", "policy")


@pytest.mark.anyio
async def test_soak_5000_tasks_under_25_percent_faults(tmp_path: Path) -> None:
    rate = 0.25 / len(GENERATION_FAULTS)
    spec = ",".join(f"{kind}={rate:.4f}" for kind in GENERATION_FAULTS) + ",truncate=0.1,slow=0.02"
    config = EmulatorConfig(
        time_scale=0, image_bytes="small", faults=parse_faults(spec), seed=11, count_prompts=True
    )
    async with running_emulator(config) as emulator:
        manifest = load(tmp_path, f"""
            version: 1
            models: [{FAST}]
            aspect_ratios: ["1:1", "16:9"]
            limits: {{concurrency: 32, max_attempts: 10}}
            {many_prompts(2500)}
        """)  # fmt: skip
        manifest = dataclasses.replace(
            manifest, provider=ProviderConfig(kind="emulator", base_url=emulator.base_url)
        )
        job = await run_job(manifest, RunOptions(out=tmp_path / "run", wait_scale=0.001))
        stats = emulator.stats
    done, failed = job.summary.tasks.done, job.summary.errors.failed_tasks_by_kind
    # every retryable task succeeded; only content-policy blocks failed, each with its reason
    assert (
        set(failed) <= {"rejected"} and failed.get("rejected", 0) == stats.faults_injected["policy"]
    )
    assert done + failed.get("rejected", 0) == 5000
    reasons = journal_rows(
        job.run_dir, "SELECT DISTINCT error_message FROM tasks WHERE status = 'failed'"
    )
    assert all("HTTP 400" in reason for (reason,) in reasons)
    assert check_run_dir_fast(job.run_dir) == done  # zero corrupt files
    # one paid answer per rendered task: downloads were retried, generations never repeated
    per_prompt = journal_rows(
        job.run_dir, "SELECT prompt, COUNT(*) FROM tasks WHERE status = 'done' GROUP BY prompt"
    )
    assert dict(stats.prompts_served) == dict(per_prompt)
    assert stats.faults_injected["truncate"] > 100 and stats.faults_injected["429"] > 50


def _served(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=10) as response:
        return dict(json.load(response)["prompts_served"])


def _done_prompts(run_dir: Path) -> set[str]:
    try:
        with sqlite3.connect(f"file:{run_dir / 'journal.sqlite'}?mode=ro", uri=True) as db:
            return {row[0] for row in db.execute("SELECT prompt FROM tasks WHERE status = 'done'")}
    except sqlite3.Error:
        return set()


def test_sigkill_at_random_moments_loses_nothing_and_pays_once(tmp_path: Path) -> None:
    emulator = subprocess.Popen(
        [sys.executable, "-m", "batchgen", "emulator", "--port", "0", "--time-scale", "0.02",
         "--image-bytes", "small", "--count-prompts"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert emulator.stdout is not None
        url = emulator.stdout.readline().split(" on ")[1].split()[0]
        job = write_manifest(tmp_path, f"""
            version: 1
            name: crash
            provider: {{kind: emulator, base_url: "{url}"}}
            models: [{FAST}]
            num_images: 2
            limits: {{concurrency: 8}}
            {many_prompts(120)}
        """)  # fmt: skip
        run_dir = tmp_path / "out" / "crash"
        command = [sys.executable, "-m", "batchgen", "run", str(job)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        rng = random.Random(20261122)
        counts_when_done: dict[str, int] = {}  # prompt -> answers paid when its task was done
        for _ in range(4):
            run = subprocess.Popen(
                command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            # a loaded machine may take seconds to start Python: kill only once the run has
            # made its journal, so each kill lands in the run, not in the interpreter's start-up
            deadline = time.monotonic() + 60
            while not (run_dir / "journal.sqlite").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.1, 0.9))
            run.send_signal(signal.SIGKILL)
            run.wait(timeout=30)
            # after a kill: every file that is there is whole and known to the journal
            known = {row[0] for row in journal_rows(run_dir, "SELECT path FROM images")}
            assert image_files(run_dir) <= known
            assert all(png_is_whole(run_dir / path) for path in image_files(run_dir))
            served = _served(url)
            assert all(served[p] == n for p, n in counts_when_done.items())  # never resent
            counts_when_done = {p: served[p] for p in _done_prompts(run_dir)}
        final = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=120)
        assert final.returncode == 0, final.stderr.decode()[-2000:]
        assert check_run_dir_fast(run_dir) == 240
        served = _served(url)
        assert set(served) == _done_prompts(run_dir)
        assert all(served[p] == n for p, n in counts_when_done.items())
        # only a request in flight when the process died is paid twice: at most the 8 in
        # flight at each of the 4 kills
        assert sum(served.values()) - 120 <= 4 * 8
    finally:
        emulator.send_signal(signal.SIGINT)
        emulator.communicate(timeout=30)
