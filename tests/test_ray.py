"""One job across a local Ray cluster of two worker processes (issue 16): the emulator as the
provider (one server, so its own counters judge the cluster), the S3 test server as the output.
Shows: thousands of tasks complete with every object whole, the emulator's sliding-window start
count stays within the rpm across workers, a shared budget holds, and a worker killed mid-chunk
leaves a complete job with nothing paid twice beyond what it had in flight."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio.from_thread
import pytest

from batchgen.cluster.driver import ClusterOptions, run_on_ray
from batchgen.cluster.records import ChunkResult
from batchgen.emulator import EmulatorConfig, EmulatorStats, running_emulator
from batchgen.manifest.load import load_manifest
from batchgen.run.job import JobResult, RunOptions
from tests.helpers import journal_rows, shop_job

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install -e '.[ray]'")
from tests.s3_kit import s3_environment, s3_server  # noqa: E402 - after the skips above

boto3 = pytest.importorskip("boto3")

BUCKET = "shop"
WORKERS = 2


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    with s3_server() as url:
        yield url


@pytest.fixture(scope="module")
def cluster(s3_url: str) -> Iterator[None]:
    """One local Ray for the module (starting one takes seconds); its workers inherit the
    environment set here (the S3 server's address and test credentials)."""
    with pytest.MonkeyPatch.context() as env:
        for key, value in s3_environment(s3_url).items():
            env.setenv(key, value)
        ray.init(
            num_cpus=WORKERS,
            include_dashboard=False,
            namespace="batchgen",
            log_to_driver=False,
        )
        try:
            yield
        finally:
            ray.shutdown()


@pytest.fixture
def bucket(cluster: None, s3_url: str) -> Iterator[Any]:
    client = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        if keys := [{"Key": item["Key"]} for item in page.get("Contents", [])]:
            client.delete_objects(Bucket=BUCKET, Delete={"Objects": keys, "Quiet": True})
    client.delete_bucket(Bucket=BUCKET)


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start an emulator in a thread of this process (every worker reaches the same one)."""
    with anyio.from_thread.start_blocking_portal(backend="asyncio") as portal:
        opened: list[Any] = []

        def start(**options: Any) -> tuple[str, EmulatorStats]:
            manager = portal.wrap_async_context_manager(
                running_emulator(EmulatorConfig(image_bytes="small", seed=7, **options))
            )
            emulator = manager.__enter__()
            opened.append(manager)
            return emulator.base_url, emulator.stats

        try:
            yield start
        finally:
            for manager in opened:
                manager.__exit__(None, None, None)


def job(tmp_path: Path, base_url: str, count: int, extra: str = "") -> Path:
    return shop_job(tmp_path, base_url, count, output=f"s3://{BUCKET}/{{name}}", extra=extra)


def run(path: Path, tmp_path: Path, **cluster: Any) -> JobResult:
    options = RunOptions(state=tmp_path / "state", wait_scale=0.01, html=False)
    return run_on_ray(load_manifest(path), options, ClusterOptions(workers=WORKERS, **cluster))


def listing(client: Any) -> dict[str, int]:
    """Every object's key and size."""
    found: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        found |= {item["Key"]: item["Size"] for item in page.get("Contents", [])}
    return found


def check_whole(client: Any, state: Path, count: int, *, read_every: int = 1) -> None:
    """Every journalled image is in the bucket at the size the journal says (each put was
    checked against its MD5 by the sink); every `read_every`-th is read back and hashed."""
    rows = sorted(journal_rows(state, "SELECT path, bytes, sha256 FROM images"))
    stored = listing(client)
    assert len(rows) == len(stored) == count
    for number, (path, size, sha256) in enumerate(rows):
        assert stored[f"shop/{path}"] == size
        if number % read_every == 0:
            data = client.get_object(Bucket=BUCKET, Key=f"shop/{path}")["Body"].read()
            assert data.startswith(b"\x89PNG") and hashlib.sha256(data).hexdigest() == sha256


class Watch:
    """on_chunk: each worker's limiter counters, and (if asked) a worker killed mid-run."""

    def __init__(self, kill_after: int | None = None) -> None:
        self.kill_after = kill_after
        self.chunks = 0
        self.killed_pid: int | None = None
        self.started: dict[int, int] = {}

    def __call__(self, result: ChunkResult, workers: Sequence[Any]) -> None:
        self.chunks += 1
        for index, worker in enumerate(workers):
            try:
                stats = ray.get(worker.statistics.remote())
            except ray.exceptions.RayActorError:
                continue  # killed here, and the driver has not yet heard
            self.started[index] = max(self.started.get(index, 0), stats["started"])
        if self.kill_after is not None and self.chunks == self.kill_after:
            self.killed_pid = ray.get(workers[0].pid.remote())
            os.kill(self.killed_pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_thousands_of_tasks_land_whole_in_the_bucket(bucket: Any, serve: Any, tmp_path: Path):
    base_url, stats = serve(time_scale=0)
    path = job(tmp_path, base_url, 2000, "limits: {concurrency: 16}")
    watch = Watch()
    result = run(path, tmp_path, on_chunk=watch)
    print(f"2000 tasks: {result.result.wall_s:.1f} s")
    assert result.result.status == "complete", result.result
    assert result.result.done == 2000 and result.summary.tasks.done == 2000
    assert stats.generation_requests == 2000  # each task paid once
    assert all(watch.started.get(i, 0) > 0 for i in range(WORKERS)), watch.started
    check_whole(bucket, tmp_path / "state", 2000, read_every=20)
    again = run(path, tmp_path)  # a rerun finds everything done and pays nothing
    assert again.result.skipped == 2000 and stats.generation_requests == 2000


def test_the_emulators_window_never_holds_more_than_the_rpm(
    bucket: Any, serve: Any, tmp_path: Path
) -> None:
    # The server refuses past 1200 starts a minute, counted in windows of 10 s (200 starts);
    # two workers each pacing itself at the rate (Ray Data's trap) would start ~380 in one.
    # batchgen is told 1140: 5% under. Its promise holds at the client, for 60 s windows; the
    # server also sees each start's transit, and a short window magnifies that jitter: 201
    # starts in 10 s need the arrivals squeezed by 0.32 s beyond a token's allowed lateness
    # (a 5 s window tolerated 35 ms, and a loaded 2-core CI machine exceeded it once).
    base_url, stats = serve(time_scale=0, rpm=1200, burst=200)
    path = job(tmp_path, base_url, 300, "limits: {concurrency: 8, requests_per_minute: 1140}")
    watch = Watch()
    result = run(path, tmp_path, on_chunk=watch)
    assert result.result.status == "complete" and result.result.done == 300
    assert stats.responses.get(429, 0) == 0, stats.responses
    assert stats.max_starts_in_window(10.0) <= 200
    assert stats.max_starts_in_window(60.0) <= 1140
    assert all(watch.started.get(i, 0) > 0 for i in range(WORKERS)), watch.started
    check_whole(bucket, tmp_path / "state", 300, read_every=3)


def test_a_shared_budget_holds_across_workers(bucket: Any, serve: Any, tmp_path: Path) -> None:
    base_url, stats = serve(time_scale=0.02)
    path = job(tmp_path, base_url, 400, "limits: {concurrency: 8}\n        budget: {max_usd: 1.5}")
    result = run(path, tmp_path)
    assert result.result.status == "budget", result.result
    billed = stats.snapshot()["usd_billed"]
    assert isinstance(billed, float) and 1.0 < billed <= 1.5 + 1e-9
    assert result.summary.cost_usd.total <= 1.5 + 1e-9
    journalled = journal_rows(tmp_path / "state", "SELECT COUNT(*) FROM images")[0][0]
    assert journalled == stats.generation_requests  # every paid image reached the bucket


@pytest.mark.slow
def test_a_worker_killed_mid_chunk_costs_at_most_its_requests_in_flight(
    bucket: Any, serve: Any, tmp_path: Path
) -> None:
    # latency on: a kill lands while the worker has requests in flight and downloads going
    base_url, stats = serve(time_scale=0.05, count_prompts=True)
    concurrency = 8
    path = job(tmp_path, base_url, 400, f"limits: {{concurrency: {concurrency}}}")
    watch = Watch(kill_after=2)
    result = run(path, tmp_path, on_chunk=watch, chunk=32)
    assert watch.killed_pid is not None
    assert result.result.status == "complete", result.result
    assert result.summary.tasks.done == 400 and result.summary.tasks.failed == 0
    check_whole(bucket, tmp_path / "state", 400, read_every=4)
    paid_twice = sum(n - 1 for n in stats.prompts_served.values() if n > 1)
    # the dead worker's share of the slots: what it could have had in flight, unrecorded
    assert paid_twice <= concurrency // WORKERS, stats.prompts_served
    assert stats.generation_requests == 400 + paid_twice


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_driver_killed_the_rerun_resumes_from_the_journal_and_the_bucket(
    bucket: Any, serve: Any, tmp_path: Path
) -> None:
    base_url, stats = serve(time_scale=0.05, count_prompts=True)
    concurrency, count = 8, 300
    path = job(tmp_path, base_url, count, f"limits: {{concurrency: {concurrency}}}")
    command = [sys.executable, "-m", "batchgen", "run", str(path), "--state", "state", "-q"]
    command += ["--executor", "ray", "--workers", str(WORKERS)]
    driver = subprocess.Popen(command, cwd=tmp_path)  # its own Ray, started for the run
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and driver.poll() is None:
            if done(tmp_path / "state") >= 60:
                break
            time.sleep(0.2)
        assert driver.poll() is None, "the run ended before it could be killed"
    finally:  # a failed wait leaves no driver running on into the next test
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=60)
    assert 0 < done(tmp_path / "state") < count
    again = subprocess.run(command, cwd=tmp_path, timeout=240, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert done(tmp_path / "state") == count
    check_whole(bucket, tmp_path / "state", count, read_every=5)
    # The killed driver's Ray reaps its workers and recorder seconds later; until this was
    # fixed the workers went on through their chunks, and the requests they started in the
    # last moments were never recorded (11 paid twice in one CI run). Now no request starts
    # once the driver's process is gone (cluster/liveness.py): at most what held a slot then.
    paid_twice = sum(n - 1 for n in stats.prompts_served.values() if n > 1)
    print(f"the driver killed: {paid_twice} paid twice, at most {concurrency} allowed")
    assert paid_twice <= concurrency, stats.prompts_served  # at most what was in flight


def done(state: Path) -> int:
    """Tasks done in the journal; 0 before the driver has set it up (the file comes first,
    its tables a moment later: one loaded run read it in between)."""
    if not (state / "journal.sqlite").is_file():
        return 0
    try:
        rows = journal_rows(state, "SELECT COUNT(*) FROM tasks WHERE status = 'done'")
    except sqlite3.OperationalError:
        return 0
    return int(rows[0][0])
