"""kill -9 during a mode: batch run, then rerun (issue 15 point 2): right after a batch is
submitted, and at random moments; in the end every task is done, every file whole, and the
emulator saw no task submitted twice."""

from __future__ import annotations

import random
import signal
import sqlite3
import sys
from pathlib import Path

import anyio
import pytest

from batchgen.emulator import EmulatorConfig, running_emulator
from tests.test_batch_run import MODELS, whole_images

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
TASKS = 120
CHILD = """
import sys, anyio
from batchgen.manifest.load import load_manifest
from batchgen.run.job import RunOptions, run_job
manifest = load_manifest(sys.argv[1])
anyio.run(run_job, manifest, RunOptions(html=False, batch_poll_s=0.05), backend="asyncio")
"""


def write_manifest(tmp: Path, base_url: str, api: str) -> Path:
    numbers = ", ".join(str(i) for i in range(TASKS))
    path = tmp / "job.yaml"
    path.write_text(
        "version: 1\nname: nightly\n"
        f"provider: {{kind: emulator, dialect: {api}, base_url: '{base_url}'}}\n"
        f"models: [{MODELS[api]}]\nmode: batch\n"
        f"prompts:\n  - template: 'poster {{n}}'\n    vars: {{n: [{numbers}]}}\n"
        f"output: {{dir: '{tmp / 'out'}'}}\n"
    )
    return path


def submitted(run_dir: Path) -> int:
    try:
        with sqlite3.connect(run_dir / "journal.sqlite", timeout=0.05) as conn:
            query = "SELECT COUNT(*) FROM batches WHERE remote_id IS NOT NULL"
            return int(conn.execute(query).fetchone()[0])
    except sqlite3.Error:
        return 0


async def killed_after(manifest: Path, run_dir: Path, *, delay: float | None) -> None:
    """Start a run; SIGKILL it after `delay` s, or (None) as soon as a batch is submitted."""
    async with await anyio.open_process([sys.executable, "-c", CHILD, str(manifest)]) as child:
        if delay is not None:
            await anyio.sleep(delay)
        else:
            before = submitted(run_dir)
            with anyio.move_on_after(30):
                # polling another process's journal: there is no event to wait on
                while submitted(run_dir) == before and child.returncode is None:  # noqa: ASYNC110
                    await anyio.sleep(0.005)
        if child.returncode is None:
            child.send_signal(signal.SIGKILL)
        await child.wait()


@pytest.mark.parametrize("api", ["openai", "gemini"])
async def test_sigkill_at_any_moment_never_submits_a_task_twice(api: str, tmp_path: Path) -> None:
    config = EmulatorConfig(time_scale=1, batch_s=1.5, image_bytes="small")
    rng = random.Random(15)
    async with running_emulator(config) as emulator:
        manifest = write_manifest(tmp_path, emulator.base_url, api)
        run_dir = tmp_path / "out"
        await killed_after(manifest, run_dir, delay=None)  # right after the first submission
        for _ in range(4):
            await killed_after(manifest, run_dir, delay=rng.uniform(0.5, 3.0))
        await killed_after(manifest, run_dir, delay=None)
        async with await anyio.open_process([sys.executable, "-c", CHILD, str(manifest)]) as last:
            with anyio.fail_after(120):
                assert await last.wait() == 0
    sent = emulator.stats.batch_submitted
    assert len(sent) == TASKS and max(sent.values()) == 1, "a task was submitted twice"
    assert whole_images(run_dir) == TASKS
    with sqlite3.connect(run_dir / "journal.sqlite") as conn:
        done = conn.execute("SELECT COUNT(*) FROM tasks WHERE status = 'done'").fetchone()[0]
    assert done == TASKS
