"""Long runs (marked slow): soaks under every fault (URL and base64 answers, a CDN outage
window), and SIGKILL at random moments: nothing lost, nothing paid twice."""

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
from collections.abc import Callable
from pathlib import Path

import aiohttp
import anyio
import pytest

from batchgen.emulator import Emulator, EmulatorConfig, parse_faults, running_emulator
from batchgen.expand import expand
from batchgen.manifest.load import load_manifest
from batchgen.models import ProviderConfig
from batchgen.run.job import RunOptions, run_job
from tests.helpers import (
    FAST,
    check_run_dir_fast,
    emulator_process,
    image_files,
    journal_rows,
    load,
    many_prompts,
    png_is_whole,
    served_by_prompt,
    write_manifest,
)

pytestmark = pytest.mark.slow
GENERATION_FAULTS = ("429", "500", "502", "503", "504", "reset", "badjson", "html", "policy")


@pytest.mark.anyio
@pytest.mark.timeout(300)  # ~80 s on a loaded 2-core machine; the default 120 s guard hit once
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


@pytest.mark.anyio
async def test_soak_base64_answers_under_faults_pay_once(tmp_path: Path) -> None:
    retried = [kind for kind in GENERATION_FAULTS if kind != "policy"]  # Google bills no block
    spec = ",".join(f"{kind}={0.2 / len(retried):.4f}" for kind in retried)
    config = EmulatorConfig(
        time_scale=0, image_bytes="small", faults=parse_faults(spec), seed=5, count_prompts=True
    )
    async with running_emulator(config) as emulator:
        manifest = load(tmp_path, f"""
            version: 1
            models: [{FAST}]
            num_images: 2
            limits: {{concurrency: 16, max_attempts: 10}}
            {many_prompts(1000)}
        """)  # fmt: skip
        provider = ProviderConfig(kind="emulator", base_url=emulator.base_url, dialect="gemini")
        manifest = dataclasses.replace(manifest, provider=provider)
        job = await run_job(manifest, RunOptions(out=tmp_path / "run", wait_scale=0.001))
        served = dict(emulator.stats.prompts_served)
    per_prompt = journal_rows(
        job.run_dir, "SELECT prompt, COUNT(*) FROM tasks WHERE status = 'done' GROUP BY prompt"
    )
    assert served == dict(per_prompt)  # one paid answer per rendered task
    assert len(served) == 1000 and check_run_dir_fast(job.run_dir) == 2000
    assert not any((job.run_dir / ".paid").glob("*"))  # staged inline images all used


async def _files_fail(emulator: Emulator, status: int | None) -> None:
    async with aiohttp.ClientSession() as session:
        url = f"{emulator.base_url}/_emulator/files"
        async with session.put(url, json={"status": status}) as response:
            assert response.status == 200


async def _until(ready: Callable[[], bool]) -> None:
    while not ready():  # noqa: ASYNC110 - the emulator's counters have no event to wait on
        await anyio.sleep(0.005)


async def _outage_window(emulator: Emulator, *, after: int, refusals: int) -> None:
    """The file host fails once `after` images were served, until it refused `refusals`."""
    await _until(lambda: emulator.stats.downloads >= after)
    await _files_fail(emulator, 503)
    await _until(lambda: emulator.stats.downloads_refused >= refusals)
    await _files_fail(emulator, None)


@pytest.mark.anyio
async def test_soak_a_cdn_outage_window_pays_nothing_twice(tmp_path: Path) -> None:
    config = EmulatorConfig(time_scale=0, image_bytes="small", seed=7, count_prompts=True)
    async with running_emulator(config) as emulator:
        manifest = load(tmp_path, f"""
            version: 1
            models: [{FAST}]
            limits: {{concurrency: 16, max_attempts: 4}}
            {many_prompts(1500)}
        """)  # fmt: skip
        provider = ProviderConfig(kind="emulator", base_url=emulator.base_url)
        manifest = dataclasses.replace(manifest, provider=provider)
        options = RunOptions(out=tmp_path / "run", wait_scale=0.001)
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: _outage_window(emulator, after=300, refusals=400))
            first = await run_job(manifest, options)
            group.cancel_scope.cancel()
        assert first.result.failed > 0  # the window outlasted some tasks' retries
        kinds = journal_rows(
            first.run_dir, "SELECT DISTINCT error_kind FROM tasks WHERE status = 'failed'"
        )
        assert kinds == [("download",)]
        rerun = await run_job(manifest, options)
        assert rerun.result.done == first.result.failed
        served = dict(emulator.stats.prompts_served)
    assert len(served) == 1500 and set(served.values()) == {1}  # 0 generations paid twice
    assert check_run_dir_fast(rerun.run_dir) == 1500


def _paid_tasks(run_dir: Path) -> set[str]:
    """Tasks whose answer a killed run had recorded as paid: done, a kept generation, or a line
    in the paid log (not yet folded in). Each must never be bought again."""
    log = run_dir / "journal.paid"
    lines = log.read_bytes().splitlines() if log.exists() else []
    logged = {json.loads(line)[0] for line in lines if line.endswith(b"]")}
    with sqlite3.connect(f"file:{run_dir / 'journal.sqlite'}?mode=ro", uri=True) as db:
        kept = {row[0] for row in db.execute("SELECT task_id FROM generations")}
        done = {row[0] for row in db.execute("SELECT id FROM tasks WHERE status = 'done'")}
    return logged | kept | done


def _done_prompts(run_dir: Path) -> set[str]:
    try:
        with sqlite3.connect(f"file:{run_dir / 'journal.sqlite'}?mode=ro", uri=True) as db:
            return {row[0] for row in db.execute("SELECT prompt FROM tasks WHERE status = 'done'")}
    except sqlite3.Error:
        return set()


KILL_ANSWERS = {  # provider lines, and whether the file host fails in the first two rounds
    "aimlapi-url": ("kind: emulator", False),
    "gemini-base64": ("kind: emulator, dialect: gemini", False),
    "openai-b64_json": ("kind: emulator, dialect: openai", False),
    "aimlapi-url-cdn-outage": ("kind: emulator", True),
}


def _put_files(url: str, status: int | None) -> None:
    body = json.dumps({"status": status}).encode()
    request = urllib.request.Request(f"{url}/_emulator/files", data=body, method="PUT")
    with urllib.request.urlopen(request, timeout=10):
        pass


@pytest.mark.parametrize("answers", sorted(KILL_ANSWERS))
def test_sigkill_at_random_moments_loses_nothing_and_pays_once(
    tmp_path: Path, answers: str
) -> None:
    provider, outage = KILL_ANSWERS[answers]
    model = "gpt-image-2" if "openai" in provider else FAST
    with emulator_process(
        "--time-scale", "0.02", "--image-bytes", "small", "--count-prompts"
    ) as url:
        job = write_manifest(tmp_path, f"""
            version: 1
            name: crash
            provider: {{{provider}, base_url: "{url}"}}
            models: [{model}]
            num_images: 2
            limits: {{concurrency: 8}}
            {many_prompts(120)}
        """)  # fmt: skip
        run_dir = tmp_path / "out" / "crash"
        command = [sys.executable, "-m", "batchgen", "run", str(job)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        rng = random.Random(20261122)
        prompt_of = {task.id: task.prompt for task in expand(load_manifest(job))}
        counts_when_paid: dict[str, int] = {}  # prompt -> answers served when it was paid
        for round_ in range(4):
            if outage and round_ in (0, 2):
                _put_files(url, 503 if round_ == 0 else None)  # down for rounds 0 and 1
            answered = sum(served_by_prompt(url).values())
            run = subprocess.Popen(
                command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            # a loaded machine may take seconds to start Python: kill only once the run has
            # made its journal and bought answers, so each kill lands mid-run (paid answers on
            # their way to disk), not in the interpreter's start-up
            deadline = time.monotonic() + 60
            while not (run_dir / "journal.sqlite").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            while (
                sum(served_by_prompt(url).values()) < answered + 12 and time.monotonic() < deadline
            ):
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.4))
            run.send_signal(signal.SIGKILL)
            run.wait(timeout=30)
            # after a kill: every file that is there is whole and known to the journal
            known = {row[0] for row in journal_rows(run_dir, "SELECT path FROM images")}
            assert image_files(run_dir) <= known
            assert all(png_is_whole(run_dir / path) for path in image_files(run_dir))
            served = served_by_prompt(url)
            assert all(served[p] == n for p, n in counts_when_paid.items())  # never bought again
            paid = {prompt_of[task_id] for task_id in _paid_tasks(run_dir)}
            counts_when_paid |= {p: served[p] for p in paid if p not in counts_when_paid}
        final = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=120)
        assert final.returncode == 0, final.stderr.decode()[-2000:]
        assert check_run_dir_fast(run_dir) == 240
        served = served_by_prompt(url)
        assert set(served) == _done_prompts(run_dir)
        assert all(served[p] == n for p, n in counts_when_paid.items())
        # only a request in flight when the process died is paid twice: at most the 8 in
        # flight at each of the 4 kills
        assert sum(served.values()) - 120 <= 4 * 8
