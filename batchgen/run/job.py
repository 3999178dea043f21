"""A whole job: manifest + options -> run directory with images, journal and report.
This is where every part of a run is built (limiter, budget, provider, sink, run log, renderer,
saver and their settings); the engine receives them ready-made."""

from __future__ import annotations

import dataclasses
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.from_thread
import sniffio

from batchgen.expand import count_tasks, expand
from batchgen.manifest.load import load_manifest
from batchgen.models import Manifest, Task
from batchgen.providers import open_provider
from batchgen.providers.base import Provider, QueueBook
from batchgen.retry import RetryPolicy
from batchgen.run.adaptive import DEFAULT_CEILING as ADAPTIVE_CEILING
from batchgen.run.budget import Budget
from batchgen.run.engine import Engine, Observer, RunResult, TaskSource
from batchgen.run.layout import clear_forgotten
from batchgen.run.limits import Limiter
from batchgen.run.options import DEFAULT_GRACE_S
from batchgen.run.options import RunOptions as RunOptions  # its home before run/options.py
from batchgen.run.options import with_overrides as with_overrides
from batchgen.run.prepare import check_prices, prepare_run
from batchgen.run.render import Renderer, RenderSettings
from batchgen.run.runlog import RunLog
from batchgen.run.saving import ImageSaver, SaveSettings
from batchgen.run.settings import run_settings
from batchgen.store.journal import Journal
from batchgen.store.queuelog import QueueLog
from batchgen.store.sink import Sink

if TYPE_CHECKING:
    from batchgen.report.summary import Summary

# The report, notifications and batch mode are imported where they are used (the plan is in
# run/planning.py): a run's start, to its first request, needs none of them
# (tests/test_perf_imports.py).


@dataclass(frozen=True, slots=True)
class JobResult:
    run_dir: Path
    result: RunResult
    summary: Summary  # the whole job across its runs, as report.json says
    warnings: tuple[str, ...] = ()  # what went wrong after the run (a notification not sent)


async def run_job(
    manifest: Manifest,
    options: RunOptions = RunOptions(),
    observer: Observer | None = None,
    *,
    tasks: TaskSource | None = None,
) -> JobResult:
    """Render the manifest's tasks (or `tasks`, for callers that feed their own) into its run
    directory, and write the report."""
    manifest = with_overrides(manifest, options)
    check_prices(manifest)
    ready = prepare_run(
        manifest, options.state or options.out, fresh=options.fresh, wait_scale=options.wait_scale
    )
    manifest, run_dir, journal, sink, budget = (
        ready.manifest, ready.run_dir, ready.journal, ready.sink, ready.budget
    )  # fmt: skip
    try:
        if options.fresh:
            QueueLog.remove(run_dir)
        queue = QueueLog.open(run_dir, done_among=journal.done_among)
        log = RunLog.begin(
            journal, name=manifest.name, planned=count_tasks(manifest), observer=observer
        )
        started, status = time.monotonic(), "aborted"
        try:
            source = tasks if tasks is not None else expand(manifest)
            if observer is not None and budget.max_usd is not None:
                observer.budget(budget.max_usd, budget.spent_before_usd, manifest.budget_scope)
            if manifest.mode == "batch":
                result = await _batch(
                    manifest, options, journal, log, sink, observer, source, queue
                )
            else:
                result = await _render(
                    manifest, options, log, sink, observer, source, budget, queue
                )
            status = result.status
        except (anyio.get_cancelled_exc_class(), KeyboardInterrupt):
            status = "cancelled"
            raise
        finally:  # a run that dies (no key, a hard cancel) still records how long it ran
            queue.close()
            log.end(wall_s=time.monotonic() - started, status=status)
        from batchgen.report.files import write_reports

        cap = (manifest.max_usd, manifest.budget_scope) if manifest.max_usd else None
        summary = write_reports(run_dir, journal, name=manifest.name, html=options.html, budget=cap)
        clear_forgotten(run_dir, journal)
    finally:
        journal.close()
    warnings = await _notify(manifest, options, run_dir, result, summary)
    return JobResult(run_dir=run_dir, result=result, summary=summary, warnings=warnings)


async def _notify(
    manifest: Manifest, options: RunOptions, run_dir: Path, result: RunResult, summary: Summary
) -> tuple[str, ...]:
    """`notify:` hears how the run ended; its failures are warnings, never the run's."""
    if manifest.notify is None:
        return ()
    from batchgen.providers.notify import RunEnd, event_of, notify

    end = RunEnd(
        event=event_of(result.status, result.failed),
        status=result.status,
        reason=result.reason,
        run_dir=str(run_dir),
        summary=summary.to_json(),
    )
    return await notify(manifest.notify, manifest, end, wait_scale=options.wait_scale)


async def _render(
    manifest: Manifest,
    options: RunOptions,
    log: RunLog,
    sink: Sink,
    observer: Observer | None,
    tasks: TaskSource,
    budget: Budget,
    queue: QueueBook,
) -> RunResult:
    limits = manifest.limits
    async with open_provider(manifest) as provider:
        provider.keep_queue(queue)
        log.settings(run_settings(manifest, provider))
        save, render = engine_settings(manifest, wait_scale=options.wait_scale)
        engine = build_engine(
            provider=provider,
            limiter=Limiter(
                concurrency=limits.concurrency, requests_per_minute=limits.requests_per_minute
            ),
            budget=budget,
            sink=sink,
            log=log,
            save=save,
            render=render,
            # more workers than slots: one busy downloading or saving does not idle a slot
            workers=2 * (limits.concurrency or ADAPTIVE_CEILING),
            observer=observer,
            grace_s=options.grace_s,
        )
        return await engine.run(tasks, handle_signals=options.handle_signals)


async def _batch(
    manifest: Manifest,
    options: RunOptions,
    journal: Journal,
    log: RunLog,
    sink: Sink,
    observer: Observer | None,
    tasks: TaskSource,
    queue: QueueBook,
) -> RunResult:
    """mode: batch (batchgen.run.batch); leftovers near the deadline may go through _render."""
    if not isinstance(tasks, Iterable):
        raise TypeError("mode: batch takes its tasks as a plain iterable")
    from batchgen.run.batch import BatchSettings
    from batchgen.run.batch_job import deadline_at, render_batch

    async def live(leftovers: list[Task], max_usd: float | None) -> RunResult:
        if max_usd is not None and max_usd <= 0:
            return RunResult("budget", "budget reached", 0, 0, 0, 0.0)
        capped = dataclasses.replace(manifest, max_usd=max_usd)
        return await _render(
            capped, options, log, sink, observer, leftovers, Budget(max_usd), queue
        )

    settings = BatchSettings(
        max_usd=manifest.max_usd,
        poll_s=options.batch_poll_s,
        resolution=manifest.resolution,
        deadline_at=deadline_at(manifest.deadline, time.time()),
    )
    return await render_batch(
        manifest, journal=journal, log=log, sink=sink, tasks=tasks, live=live, settings=settings
    )


def engine_settings(
    manifest: Manifest, *, wait_scale: float
) -> tuple[SaveSettings, RenderSettings]:
    """What the saver and the renderer take from the manifest (on one machine or a worker)."""
    limits = manifest.limits
    save = SaveSettings(
        name=manifest.name, filename=manifest.output.filename, output=manifest.output
    )
    render = RenderSettings(
        request_timeout_s=limits.request_timeout_s,
        fallback=manifest.fallback,
        prices=manifest.prices,
        policy=RetryPolicy(
            max_attempts=limits.max_attempts,
            download_attempts=limits.max_attempts,
            wait_scale=wait_scale,
        ),
    )
    return save, render


def build_engine(
    *,
    provider: Provider,
    limiter: Limiter,
    budget: Budget,
    sink: Sink,
    log: RunLog,
    save: SaveSettings,
    render: RenderSettings,
    workers: int,
    observer: Observer | None = None,
    grace_s: float = DEFAULT_GRACE_S,
    rand: Callable[[], float] = random.random,
) -> Engine:
    """Wire the parts of a run into an engine; requests and downloads share one retry policy."""
    stopping = anyio.Event()  # set by the engine on stop; the renderer starts no request after
    saver = ImageSaver(
        provider=provider,
        sink=sink,
        log=log,
        settings=save,
        policy=render.policy,
        rand=rand,
    )
    renderer = Renderer(
        provider=provider,
        limiter=limiter,
        saver=saver,
        log=log,
        budget=budget,
        settings=render,
        stopping=stopping,
        rand=rand,
    )
    return Engine(
        renderer=renderer,
        log=log,
        stopping=stopping,
        workers=workers,
        observer=observer,
        grace_s=grace_s,
        limiter=limiter,
    )


ManifestLike = Manifest | str | os.PathLike[str]


def _manifest(manifest: ManifestLike) -> Manifest:
    return manifest if isinstance(manifest, Manifest) else load_manifest(manifest)


async def arun(
    manifest: ManifestLike, options: RunOptions = RunOptions(), observer: Observer | None = None
) -> JobResult:
    """Run a job to the end inside the caller's event loop (a notebook cell: `await arun(...)`).
    `manifest` is a loaded Manifest or the path of a manifest file."""
    return await run_job(_manifest(manifest), options, observer)


def run(
    manifest: ManifestLike, options: RunOptions = RunOptions(), observer: Observer | None = None
) -> JobResult:
    """Run a job to the end (blocking), on anyio's asyncio backend. Called where an event loop
    already runs (a notebook cell, a coroutine), the job runs in a worker thread with a loop of
    its own and this call blocks until it ends; `await arun(...)` there does not block the loop."""
    loaded = _manifest(manifest)
    if not _loop_running():
        return anyio.run(run_job, loaded, options, observer, backend="asyncio")
    # signal handlers belong to the main thread's loop; the caller's loop keeps Ctrl-C
    options = dataclasses.replace(options, handle_signals=False)
    with anyio.from_thread.start_blocking_portal(backend="asyncio") as portal:
        future = portal.start_task_soon(run_job, loaded, options, observer)
        try:
            return future.result()
        except KeyboardInterrupt:  # a notebook's interrupt: stop the job as Ctrl-C would
            future.cancel()
            raise


def _loop_running() -> bool:
    """Whether this thread already runs an event loop (anyio.run would refuse it)."""
    try:
        sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return False
    return True
