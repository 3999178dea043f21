"""A whole job: manifest + options -> run directory with images, journal and report.
This is where every part of a run is built (limiter, budget, provider, sink, run log, renderer,
saver and their settings); the engine receives them ready-made."""

from __future__ import annotations

import dataclasses
import random
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import anyio

from batchgen.expand import count_tasks, expand
from batchgen.models import Manifest, Task
from batchgen.providers import open_provider
from batchgen.providers.base import Provider
from batchgen.report.files import write_reports
from batchgen.report.index import SIDECAR_META
from batchgen.report.names import REPORT_FILES, THUMBS_DIR
from batchgen.report.summary import Summary
from batchgen.retry import RetryPolicy
from batchgen.run.adaptive import DEFAULT_CEILING as ADAPTIVE_CEILING
from batchgen.run.batch import DEFAULT_POLL_S, BatchSettings
from batchgen.run.batch_job import deadline_at, render_batch
from batchgen.run.budget import Budget
from batchgen.run.engine import DEFAULT_GRACE_S, Engine, Observer, RunResult, TaskSource
from batchgen.run.limits import Limiter
from batchgen.run.render import Renderer, RenderSettings
from batchgen.run.runlog import RunLog
from batchgen.run.saving import ImageSaver, SaveSettings
from batchgen.store.journal import JOURNAL_FILE, Journal
from batchgen.store.sink import IMAGES_DIR, Sink


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Command-line overrides of the manifest, and how the run behaves."""

    out: Path | None = None
    concurrency: int | None = None
    requests_per_minute: float | None = None
    max_usd: float | None = None
    fresh: bool = False
    grace_s: float = DEFAULT_GRACE_S
    handle_signals: bool = False
    wait_scale: float = 1.0  # scales retry waits; tests and soak runs turn it down
    html: bool = True  # report.html (thumbnails: seconds per run); `batchgen report` makes it later
    mode: str | None = None  # "live" or "batch": overrides the manifest's mode
    batch_poll_s: float = DEFAULT_POLL_S  # how often batches in flight are asked how they are


@dataclass(frozen=True, slots=True)
class JobResult:
    run_dir: Path
    result: RunResult
    summary: Summary  # the whole job across its runs, as report.json says


def with_overrides(manifest: Manifest, options: RunOptions) -> Manifest:
    limits = manifest.limits
    if options.concurrency is not None:
        limits = dataclasses.replace(limits, concurrency=options.concurrency)
    if options.requests_per_minute is not None:
        limits = dataclasses.replace(limits, requests_per_minute=options.requests_per_minute)
    max_usd = options.max_usd if options.max_usd is not None else manifest.max_usd
    mode = options.mode or manifest.mode
    return dataclasses.replace(manifest, limits=limits, max_usd=max_usd, mode=mode)


def run_dir_for(manifest: Manifest, out: Path | None = None) -> Path:
    """--out, else output.dir with {name} filled in (relative to the current directory)."""
    return out if out is not None else Path(manifest.output.dir.replace("{name}", manifest.name))


def forget_outputs(run_dir: Path) -> None:
    """--fresh: drop the reports and images of earlier runs (the journal forgets itself)."""
    for name in REPORT_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for folder in (IMAGES_DIR, THUMBS_DIR):
        shutil.rmtree(run_dir / folder, ignore_errors=True)


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
    run_dir = run_dir_for(manifest, options.out)
    ours = (run_dir / JOURNAL_FILE).is_file()  # no journal: images/ there is not batchgen's
    journal = Journal.open(run_dir, fresh=options.fresh)  # locks the folder first
    try:
        if options.fresh and ours:
            forget_outputs(run_dir)
        sink = Sink(run_dir)
        sink.prepare()
        journal.drop_missing_images(run_dir)
        journal.set_meta(SIDECAR_META, "1" if manifest.output.sidecar else "0")
        log = RunLog.begin(
            journal, name=manifest.name, planned=count_tasks(manifest), observer=observer
        )
        started, status = time.monotonic(), "aborted"
        try:
            source = tasks if tasks is not None else expand(manifest)
            if manifest.mode == "batch":
                result = await _batch(manifest, options, journal, log, sink, observer, source)
            else:
                result = await _render(manifest, options, log, sink, observer, source)
            status = result.status
        except (anyio.get_cancelled_exc_class(), KeyboardInterrupt):
            status = "cancelled"
            raise
        finally:  # a run that dies (no key, a hard cancel) still records how long it ran
            log.end(wall_s=time.monotonic() - started, status=status)
        summary = write_reports(run_dir, journal, name=manifest.name, html=options.html)
    finally:
        journal.close()
    return JobResult(run_dir=run_dir, result=result, summary=summary)


async def _render(
    manifest: Manifest,
    options: RunOptions,
    log: RunLog,
    sink: Sink,
    observer: Observer | None,
    tasks: TaskSource,
) -> RunResult:
    limits = manifest.limits
    async with open_provider(manifest) as provider:
        engine = build_engine(
            provider=provider,
            limiter=Limiter(
                concurrency=limits.concurrency, requests_per_minute=limits.requests_per_minute
            ),
            budget=Budget(manifest.max_usd),
            sink=sink,
            log=log,
            save=SaveSettings(name=manifest.name, filename=manifest.output.filename),
            render=RenderSettings(
                request_timeout_s=limits.request_timeout_s,
                fallback=manifest.fallback,
                policy=RetryPolicy(
                    max_attempts=limits.max_attempts,
                    download_attempts=limits.max_attempts,
                    wait_scale=options.wait_scale,
                ),
            ),
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
) -> RunResult:
    """mode: batch (batchgen.run.batch); leftovers near the deadline may go through _render."""
    if not isinstance(tasks, Iterable):
        raise TypeError("mode: batch takes its tasks as a plain iterable")

    async def live(leftovers: list[Task], max_usd: float | None) -> RunResult:
        if max_usd is not None and max_usd <= 0:
            return RunResult("budget", "budget reached", 0, 0, 0, 0.0)
        capped = dataclasses.replace(manifest, max_usd=max_usd)
        return await _render(capped, options, log, sink, observer, leftovers)

    settings = BatchSettings(
        max_usd=manifest.max_usd,
        poll_s=options.batch_poll_s,
        resolution=manifest.resolution,
        deadline_at=deadline_at(manifest.deadline, time.time()),
    )
    return await render_batch(
        manifest, journal=journal, log=log, sink=sink, tasks=tasks, live=live, settings=settings
    )


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
    )


def run(
    manifest: Manifest, options: RunOptions = RunOptions(), observer: Observer | None = None
) -> JobResult:
    """Run a job to the end (blocking), on anyio's asyncio backend."""
    return anyio.run(run_job, manifest, options, observer, backend="asyncio")
