"""A cluster's workers start no request once the driver is gone (issue 16, the driver killed),
without Ray: the recorder sees a SIGKILLed driver process gone before anyone reaps it, a driver
on another machine is watched by its heartbeat, and a worker's engine (the cluster's limiter,
remote log and recorder, in one process) stops starting at the kill, so the rerun pays again
at most what held a slot then."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Iterator, Sequence
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from batchgen.cluster.gate import KeyGate
from batchgen.cluster.lease import ClusterLimiter, LocalGate
from batchgen.cluster.liveness import STALE_S, Answer, DriverGone, DriverId, DriverWatch, StartGuard
from batchgen.cluster.recorder import Recorder
from batchgen.cluster.records import ErrorNote
from batchgen.cluster.remotelog import RemoteLog
from batchgen.emulator import EmulatorConfig, running_emulator
from batchgen.expand import expand
from batchgen.manifest.load import load_manifest
from batchgen.models import ImageRef, Outcome, SavedImage, Task
from batchgen.providers import open_provider
from batchgen.run.budget import Budget
from batchgen.run.job import RunOptions, arun, build_engine, engine_settings
from batchgen.store.sink import Sink
from tests.helpers import shop_job


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def driver() -> Iterator[subprocess.Popen[bytes]]:
    """A stand-in for the driver process: killed by the test, reaped only at the end."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    yield process
    process.kill()
    process.wait()


def here(process: subprocess.Popen[bytes]) -> DriverId:
    return DriverId(socket.gethostname(), process.pid)


def state_of(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def wait_for(answer: str, watch: DriverWatch) -> str:
    deadline = time.monotonic() + 30  # the kernel ends a SIGKILLed process at once; slack for load
    while (seen := watch.answer()) != answer and time.monotonic() < deadline:
        time.sleep(0.01)
    return seen


def test_a_killed_driver_is_gone_before_it_is_reaped(driver: subprocess.Popen[bytes]) -> None:
    watch = DriverWatch(here(driver))
    assert watch.by_process and watch.answer() == "go"
    os.kill(driver.pid, signal.SIGKILL)
    assert wait_for("gone", watch) == "gone"
    if sys.platform == "linux":  # not reaped: a zombie, which os.kill(pid, 0) finds alive
        assert state_of(driver.pid) == "Z"
    watch.close()


def test_a_driver_elsewhere_is_watched_by_its_heartbeat() -> None:
    now = [0.0]
    watch = DriverWatch(DriverId("another-machine", 1), clock=lambda: now[0])
    assert not watch.by_process and watch.answer() == "go"
    now[0] += STALE_S  # late: the starts pause (a loaded driver may only be slow)
    assert watch.answer() == "wait"
    watch.beat()
    assert watch.answer() == "go"


def test_a_pid_not_found_here_is_watched_by_its_heartbeat() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # reaped: its pid names no process here (another machine, same host name)
    watch = DriverWatch(DriverId(socket.gethostname(), gone.pid))
    assert not watch.by_process and watch.answer() == "go"


@pytest.mark.anyio
async def test_a_guard_waits_out_a_late_heartbeat_and_refuses_once_gone() -> None:
    answers: list[Answer] = ["wait", "wait", "go", "gone"]

    async def ask() -> Answer:
        return answers.pop(0)

    guard = StartGuard(ask, ask_again_s=0.0)
    await guard.permit()
    assert answers == ["gone"]
    with pytest.raises(DriverGone, match="run the same command again"):
        await guard.permit()
    assert guard.refused == 1


class Direct:
    """The recorder's client with no Ray between: calls in this process."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def paid(self, task: Task, model: str, refs: Sequence[ImageRef], cost_usd: float) -> None:
        self.recorder.paid(task, model, refs, cost_usd)

    async def image_saved(self, task_id: str, image: SavedImage) -> None:
        await self.recorder.image_saved(task_id, image)

    def attempt_failed(
        self, task: Task, model: str, attempt: int, note: ErrorNote
    ) -> Awaitable[None]:
        self.recorder.attempt_failed(task, model, attempt, note)
        return anyio.lowlevel.checkpoint()

    def finished(self, outcome: Outcome) -> Awaitable[None]:
        self.recorder.finished(outcome)
        return anyio.lowlevel.checkpoint()

    async def may_start(self) -> Answer:
        return self.recorder.may_start()


@pytest.mark.anyio
async def test_no_request_starts_once_the_driver_is_killed(
    tmp_path: Path, driver: subprocess.Popen[bytes]
) -> None:
    concurrency, count = 4, 120
    config = EmulatorConfig(image_bytes="small", seed=7, time_scale=0.05, count_prompts=True)
    async with running_emulator(config) as emulator:
        output, limits = str(tmp_path / "out"), f"limits: {{concurrency: {concurrency}}}"
        path = shop_job(tmp_path, emulator.base_url, count, output=output, extra=limits)
        options = RunOptions(wait_scale=0.01, html=False)
        recorder = Recorder()
        opened = recorder.open(load_manifest(path), options, here(driver))
        assert not isinstance(opened, Exception), opened
        chunk = recorder.plan(0, tuple(expand(opened.manifest))).chunk
        client = Direct(recorder)
        gate = LocalGate(KeyGate(requests_per_minute=None, max_usd=None), "w0")
        limiter = ClusterLimiter(gate, concurrency=concurrency, starts=StartGuard(client.may_start))
        save, render = engine_settings(opened.manifest, wait_scale=0.01)
        stats = emulator.stats
        async with open_provider(opened.manifest) as provider:
            log = RemoteLog(client, chunk)
            engine = build_engine(
                provider=provider, limiter=limiter, budget=Budget(None),
                sink=Sink(Path(opened.run_dir)), log=log, save=save, render=render,
                workers=2 * concurrency,
            )  # fmt: skip
            asked_at_kill = 0
            async with anyio.create_task_group() as group:

                async def kill_at_a_quarter() -> None:
                    nonlocal asked_at_kill
                    while stats.generation_requests < count // 4:  # noqa: ASYNC110 - a counter
                        await anyio.sleep(0.005)
                    os.kill(driver.pid, signal.SIGKILL)
                    asked_at_kill = stats.generation_requests

                group.start_soon(kill_at_a_quarter)
                result = await engine.run(chunk.tasks)
            await log.drain()
        recorder.end(wall_s=1.0, status=result.status, html=False, manifest=opened.manifest)
        assert result.status == "aborted" and "driver is gone" in (result.reason or "")
        # only what held a slot (and its permission) at the kill went out after it
        assert stats.generation_requests <= asked_at_kill + concurrency
        assert result.done < count
        # the rerun (one process now) finishes the job, paying again at most the slots
        again = await arun(path, options)
        assert again.result.status == "complete"
        paid_twice = sum(n - 1 for n in stats.prompts_served.values() if n > 1)
        assert paid_twice <= concurrency, stats.prompts_served
        assert len(stats.prompts_served) == count
