"""fal bills a queued request when it completes: a hiccup after the submit (a status or result
GET refused, a result that comes too late for the request timeout) must never be paid for twice.

A proxy on loopback stands in front of the emulator's fal queue and spoils the first status and
result GET of every request; the emulator counts submissions and bills each completed request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import anyio
import pytest
from aiohttp import web

from batchgen.emulator import Emulator, EmulatorConfig, running_emulator
from batchgen.manifest.load import load_manifest
from batchgen.models import ProviderConfig
from batchgen.run.job import RunOptions, run_job
from batchgen.store.queuelog import QUEUE_LOG, QueueLog
from tests.helpers import check_run_dir, load

pytestmark = pytest.mark.anyio
KEY = "sk-test-fal-pay-once-0123456789"
KEY_ENV = "BATCHGEN_FAL_PAY_ONCE_KEY"
TASKS = 6

# what the proxy does to the first GET of a kind for each request: (status, headers) or a delay
Spoil = Callable[[str], Awaitable[web.StreamResponse | None]]


@asynccontextmanager
async def proxy(upstream: str, spoil: Spoil) -> AsyncIterator[str]:
    """Forward every request to `upstream`, keeping the Host header (so the queue URLs the
    emulator hands out point back here); `spoil(kind)` may answer instead, once per kind."""
    seen: Counter[tuple[str, str]] = Counter()
    session = aiohttp.ClientSession()

    async def forward(request: web.Request) -> web.StreamResponse:
        path = request.rel_url.path
        kind = "status" if path.endswith("/status") else "result"
        if request.method == "GET" and "/requests/" in path:
            seen[(path.removesuffix("/status"), kind)] += 1
            if seen[(path.removesuffix("/status"), kind)] == 1:
                answer = await spoil(kind)
                if answer is not None:
                    return answer
        async with session.request(
            request.method,
            upstream + str(request.rel_url),
            headers={k: v for k, v in request.headers.items() if k.lower() != "content-length"},
            data=await request.read(),
            allow_redirects=False,
        ) as response:
            body = await response.read()
            return web.Response(
                status=response.status, body=body, content_type=response.content_type
            )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
        await session.close()


@pytest.fixture
async def emulator(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    monkeypatch.setenv(KEY_ENV, KEY)
    config = EmulatorConfig(time_scale=0.002, image_bytes="small", api_key=KEY)
    async with running_emulator(config) as emu:
        yield emu


async def refuse(kind: str) -> web.StreamResponse | None:
    if kind == "status":
        return web.json_response({"detail": "Service Unavailable"}, status=503)
    return web.json_response({"detail": "Rate limit exceeded"}, status=429)


async def answer_late(kind: str) -> web.StreamResponse | None:
    """The first result GET is held past the request timeout: the request is complete (and
    billed) by then, so the cancel that follows the timeout answers ALREADY_COMPLETED."""
    if kind == "result":
        await asyncio.sleep(3.0)
    return None


@pytest.mark.parametrize("spoil", [refuse, answer_late], ids=["refused-gets", "late-result"])
async def test_a_hiccup_after_the_submit_is_never_paid_twice(
    tmp_path: Path, emulator: Emulator, spoil: Spoil
) -> None:
    prompts = "\n".join(f"  - a product shot number {n}" for n in range(TASKS))
    manifest = load(tmp_path, f"""
version: 1
provider: {{kind: fal}}
models: [google/imagen-4.0-fast-generate-001]
aspect_ratios: ["1:1"]
limits: {{concurrency: {TASKS}, request_timeout_s: 1.5, max_attempts: 4}}
prompts:
{prompts}
""")  # fmt: skip
    async with proxy(emulator.base_url, spoil) as url:
        provider = ProviderConfig(kind="fal", base_url=url + "/fal", api_key_env=KEY_ENV)
        manifest = dataclasses.replace(manifest, provider=provider)
        job = await run_job(manifest, RunOptions(out=tmp_path / "run"))
    assert job.result.status == "complete" and job.result.done == TASKS
    assert check_run_dir(job.run_dir, {"1:1": (1024, 1024)}) == TASKS
    assert emulator.stats.generation_requests == TASKS  # one submission per task
    assert emulator.stats.images_generated == TASKS  # each billed once
    assert emulator.stats.cancelled == 0  # nothing was cancelled that could have been read


def queued(run_dir: Path) -> int:
    """Requests the run has noted in its queue log so far."""
    try:
        return (run_dir / QUEUE_LOG).read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


async def test_a_kill_while_requests_are_queued_reads_them_on_the_rerun(tmp_path: Path) -> None:
    """fal completes (and bills) what was queued even when the client is gone: the rerun reads
    those requests' results from the queue log instead of submitting the tasks again."""
    config = EmulatorConfig(time_scale=3.0, image_bytes="small", count_prompts=True)
    async with running_emulator(config) as emulator:
        job = tmp_path / "job.yaml"
        prompts = ", ".join(f"a queued product shot {n}" for n in range(TASKS))
        job.write_text(
            f"version: 1\nname: queued\nmodels: [google/imagen-4.0-fast-generate-001]\n"
            f"limits: {{concurrency: {TASKS}}}\nprompts: [{prompts}]\nprovider: "
            f'{{kind: emulator, dialect: fal, base_url: "{emulator.base_url}"}}\n'
        )
        run_dir = tmp_path / "run"
        command = [sys.executable, "-m", "batchgen", "run", str(job), "--out", str(run_dir)]
        async with await anyio.open_process(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        ) as child:
            try:
                with anyio.fail_after(120):  # a bound on the wait, not a measurement
                    while queued(run_dir) < TASKS and child.returncode is None:  # noqa: ASYNC110
                        await anyio.sleep(0.02)
                assert child.returncode is None, "the run ended before it was killed"
                assert emulator.stats.images_generated < TASKS  # some still queued at the kill
            finally:
                if child.returncode is None:
                    child.kill()
                await child.wait()
        assert emulator.stats.generation_requests == TASKS
        rerun = await run_job(load_manifest(job), RunOptions(out=run_dir))
        # a slow start may have let the killed run finish a task before the kill
        assert rerun.result.done + rerun.result.skipped == TASKS and rerun.result.failed == 0
        assert emulator.stats.generation_requests == TASKS  # nothing submitted again
        assert set(emulator.stats.prompts_served.values()) == {1}  # each billed once
    assert check_run_dir(run_dir, {"1:1": (1024, 1024)}) == TASKS
    rerun_again = QueueLog.open(run_dir, done_among=lambda ids: set(ids))
    assert rerun_again.kept == {}  # done tasks' requests are history
    rerun_again.close()


def test_the_queue_log_skips_a_torn_line_and_forgets_done_tasks(tmp_path: Path) -> None:
    log = QueueLog.open(tmp_path, done_among=lambda ids: set())
    log.accepted("t1", "fal-ai/imagen4/preview", {"status_url": "http://q/1/status"})
    log.accepted("t2", "fal-ai/imagen4/preview", {"status_url": "http://q/2/status"})
    log.close()
    with (tmp_path / QUEUE_LOG).open("ab") as torn:  # a kill in the middle of a write
        torn.write(b'["t3","fal-ai/imag')
    again = QueueLog.open(tmp_path, done_among=lambda ids: {"t1"} & set(ids))
    assert again.kept == {("t2", "fal-ai/imagen4/preview"): {"status_url": "http://q/2/status"}}
    again.close()
    assert queued(tmp_path) == 1  # rewritten with the one request still worth reading
