"""A whole job: manifest + options -> run directory with images, journal and report.
This is where every part of a run is built (limiter, budget, provider, sink, run log, renderer,
saver and their settings); the engine receives them ready-made."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anyio

from batchgen.expand import count_tasks, expand
from batchgen.models import Manifest
from batchgen.providers import open_provider
from batchgen.providers.base import Provider
from batchgen.report.files import write_reports
from batchgen.report.index import SIDECAR_META
from batchgen.report.summary import Summary
from batchgen.retry import RetryPolicy
from batchgen.run.adaptive import DEFAULT_CEILING as ADAPTIVE_CEILING
from batchgen.run.budget import Budget
from batchgen.run.engine import DEFAULT_GRACE_S, Engine, Observer, RunResult, TaskSource
from batchgen.run.layout import clear_forgotten, filename_for, set_aside
from batchgen.run.limits import Limiter
from batchgen.run.render import Renderer, RenderSettings
from batchgen.run.runlog import RunLog
from batchgen.run.saving import ImageSaver, SaveSettings
from batchgen.store.journal import JOURNAL_FILE, Journal
from batchgen.store.sink import Sink


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
    return dataclasses.replace(manifest, limits=limits, max_usd=max_usd)


def run_dir_for(manifest: Manifest, out: Path | None = None) -> Path:
    """--out, else output.dir with {name} filled in (relative to the current directory)."""
    return out if out is not None else Path(manifest.output.dir.replace("{name}", manifest.name))


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
            set_aside(run_dir, journal)  # deleted by clear_forgotten once this run is recorded
        filename = filename_for(
            manifest.output.filename, journal, earlier_run=ours and not options.fresh
        )
        manifest = dataclasses.replace(
            manifest, output=dataclasses.replace(manifest.output, filename=filename)
        )
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
            result = await _render(manifest, options, log, sink, observer, source)
            status = result.status
        except (anyio.get_cancelled_exc_class(), KeyboardInterrupt):
            status = "cancelled"
            raise
        finally:  # a run that dies (no key, a hard cancel) still records how long it ran
            log.end(wall_s=time.monotonic() - started, status=status)
        summary = write_reports(run_dir, journal, name=manifest.name, html=options.html)
        clear_forgotten(run_dir, journal)
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
