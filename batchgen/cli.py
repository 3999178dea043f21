"""The `batchgen` command: parse arguments, call the library, map outcomes to exit codes."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from batchgen.cli_text import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    compare_runs,
    ending_lines,
    exit_code,
    run_on_cluster,
    sigterm_as_interrupt,
    tally,
)
from batchgen.errors import BatchgenError, ManifestError
from batchgen.expand import count_tasks
from batchgen.manifest.load import load_manifest
from batchgen.redact import redact
from batchgen.store.sqlitefile import damage_message

if TYPE_CHECKING:
    from batchgen.models import Manifest
    from batchgen.run.engine import Observer
    from batchgen.run.job import JobResult
    from batchgen.run.options import RunOptions

# Each command's modules are imported where they are used: `batchgen run` reaches its first
# request without the plan's, the report's or the comparison's, and `validate`, `plan`,
# `schema`, `status` and `report` start without the engine, aiohttp or the live view
# (tests/test_perf_imports.py).

T = TypeVar("T")


def _guard(action: Callable[[], T]) -> T:
    """Turn batchgen's errors into a message and an exit code, never a traceback."""
    try:
        return action()
    except ManifestError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        raise SystemExit(EXIT_USAGE) from exc
    except BatchgenError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_FAILED) from exc
    except KeyboardInterrupt as exc:
        click.echo(f"interrupted ({exc or 'SIGINT'})", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from exc


def _load(path: str, *, quiet: bool = False) -> Manifest:
    """The manifest, or exit 2 showing every problem under its source line (and warnings)."""
    try:
        manifest = load_manifest(path)
    except ManifestError as exc:
        _show(exc.problems, Path(path), "error")
        _show(exc.warnings, Path(path), "warning")
        click.echo(tally(len(exc.problems), len(exc.warnings)), err=True)
        raise SystemExit(EXIT_USAGE) from exc
    if not quiet:
        _show(manifest.warnings, Path(path), "warning")
    return manifest


class _Batchgen(click.Group):
    """Every command's outcome is a message and an exit code, never a traceback: batchgen's
    errors, the OS's (a full disk), signals, and, last, anything unforeseen."""

    def invoke(self, ctx: click.Context) -> object:
        with sigterm_as_interrupt():
            return _mapped(lambda: super(_Batchgen, self).invoke(ctx))


def _mapped(action: Callable[[], T]) -> T:
    try:
        return _guard(action)
    except (SystemExit, click.exceptions.ClickException, click.exceptions.Exit):
        raise
    except sqlite3.DatabaseError as exc:  # a damaged page found after the journal opened
        message = damage_message(exc) or f"journal: {exc}"
        click.echo(f"error: {message}", err=True)
        raise SystemExit(EXIT_FAILED) from exc
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        click.echo(f"error: {redact(exc.strerror or str(exc))}{where}", err=True)
        raise SystemExit(EXIT_FAILED) from exc
    except Exception as exc:  # noqa: BLE001 - the last line before a user would see a traceback
        click.echo(f"error: unexpected {type(exc).__name__}: {redact(str(exc))}", err=True)
        click.echo("this is a batchgen bug; please report it with the command you ran", err=True)
        raise SystemExit(EXIT_FAILED) from exc


def _show(messages: Sequence[str], source: Path, label: str) -> None:
    """Each message once under its source line; a run of messages alike is its first one and
    '... and N more like it'."""
    from batchgen.manifest.excerpts import with_excerpts
    from batchgen.manifest.suggest import fold

    for group in fold(messages):
        for line in with_excerpts([group.message], source, label):
            click.echo(line, err=True)
        if (tail := group.tail()) is not None:
            click.echo(f"  {tail}", err=True)


@click.group(cls=_Batchgen, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="batchgen")
def main() -> None:
    """Render text-to-image jobs in bulk: concurrent, rate-limited, resumable, with a report."""


@main.command("run")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Run directory.")
@click.option(
    "--state",
    type=click.Path(file_okay=False, path_type=Path),
    help="Local folder for the journal and reports when output.dir is a bucket.",
)
@click.option("--concurrency", type=click.IntRange(min=1), help="Requests in flight at most.")
@click.option(
    "--rpm", type=click.FloatRange(min=0, min_open=True), help="Request starts per minute at most."
)
@click.option(
    "--max-usd", type=click.FloatRange(min=0, min_open=True), help="Spend cap for this run."
)
@click.option(
    "--fresh", is_flag=True, help="Forget earlier runs in the run directory and start over."
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout, nothing else."
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics while the run goes "
    "(needs the metrics extra).",
)
@click.option(
    "--mode",
    type=click.Choice(["live", "batch"]),
    help="live requests, or the provider's batch API (half price, results within 24 h).",
)
@click.option("--executor", default="local", help="local, ray or ray://host:port (ray extra).")
@click.option("--workers", type=click.IntRange(min=1), help="Ray workers (default: its cores).")
def run_command(
    manifest: str,
    out: Path | None,
    state: Path | None,
    concurrency: int | None,
    rpm: float | None,
    max_usd: float | None,
    fresh: bool,
    quiet: bool,
    as_json: bool,
    metrics_port: int | None,
    mode: str | None,
    executor: str,
    workers: int | None,
) -> None:
    """Render every task of MANIFEST that is not already on disk."""
    from batchgen.run.options import RunOptions

    loaded = _load(manifest, quiet=quiet)
    options = RunOptions(
        mode=mode,
        out=out,
        state=state,
        concurrency=concurrency,
        requests_per_minute=rpm,
        max_usd=max_usd,
        fresh=fresh,
        handle_signals=True,
    )
    if executor != "local":  # batchgen/cluster, imported (and ray with it) only then
        job = _guard(lambda: run_on_cluster(loaded, options, executor, workers))
    else:
        job = _run_in_view(loaded, options, metrics_port=metrics_port, quiet=quiet)
    for warning in job.warnings:
        click.echo(f"warning: {warning}", err=True)
    _say_how_it_ended(job, quiet=quiet, as_json=as_json)
    raise SystemExit(exit_code(job))


def _run_in_view(
    loaded: Manifest, options: RunOptions, *, metrics_port: int | None, quiet: bool
) -> JobResult:
    """The run, shown live on stderr (and served as metrics with --metrics-port)."""
    from batchgen.run.job import run

    if quiet and metrics_port is None:  # nothing to show: no view, and no rich to load
        return _guard(lambda: run(loaded, options))
    from rich.console import Console

    from batchgen.progress import ProgressView
    from batchgen.run.options import with_overrides

    view = ProgressView(
        total=count_tasks(loaded),
        models=loaded.models,
        max_usd=with_overrides(loaded, options).max_usd,
        title=loaded.name,
        console=Console(stderr=True, quiet=quiet),
    )
    with view, _metrics(metrics_port, view, quiet=quiet) as observer:
        return _guard(lambda: run(loaded, options, observer))


@contextmanager
def _metrics(port: int | None, view: Observer, *, quiet: bool) -> Iterator[Observer]:
    """The view alone, or with --metrics-port the view behind a Prometheus observer."""
    if port is None:
        yield view
        return
    from batchgen.metrics import MetricsServer

    with _guard(lambda: MetricsServer(port, view)) as server:
        if not quiet:
            click.echo(f"metrics: http://127.0.0.1:{server.port}/metrics", err=True)
        yield server.observer


def _say_how_it_ended(job: JobResult, *, quiet: bool, as_json: bool) -> None:
    out, err = ending_lines(job, quiet=quiet, as_json=as_json)
    for line in out:
        click.echo(line)
    for line in err:
        click.echo(line, err=True)


@main.command("plan")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), help="Run directory to look in."
)
@click.option("--concurrency", type=click.IntRange(min=1), help="What if: requests in flight.")
@click.option(
    "--rpm", type=click.FloatRange(min=0, min_open=True), help="What if: request starts/minute."
)
@click.option(
    "--max-usd", type=click.FloatRange(min=0, min_open=True), help="What if: this spend cap."
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON on stdout.")
def plan_command(
    manifest: str,
    out: Path | None,
    concurrency: int | None,
    rpm: float | None,
    max_usd: float | None,
    as_json: bool,
) -> None:
    """Show tasks done and left, the cost of what is left, where the budget would stop the run,
    and the duration at the limits assumed; sends nothing."""
    from batchgen.cli_text import by_mode_line, plan_json
    from batchgen.plan import price_by_mode
    from batchgen.plan_text import plan_lines
    from batchgen.run.options import RunOptions, with_overrides
    from batchgen.run.planning import plan_job

    loaded = _load(manifest, quiet=as_json)
    options = RunOptions(out=out, concurrency=concurrency, requests_per_minute=rpm, max_usd=max_usd)
    plan = _guard(lambda: plan_job(loaded, options))
    prices = price_by_mode(plan, with_overrides(loaded, options))
    if as_json:
        click.echo(json.dumps(plan_json(loaded.name, plan, prices), indent=2))
        return
    for line in plan_lines(loaded.name, plan):
        click.echo(line)
    click.echo(by_mode_line(prices))


@main.command("validate")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
def validate_command(manifest: str) -> None:
    """Exit 0 if MANIFEST is valid (warnings, if any, on stderr), else 2 with file:line:col:
    message and the source line for every problem."""
    loaded = _load(manifest)
    click.echo(f"{manifest}: ok ({count_tasks(loaded):,} tasks)")


@main.command("status")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def status_command(run_dir: Path) -> None:
    """Show RUN_DIR's batches (mode: batch) and their states; starts and sends nothing."""
    from batchgen.run.batch_status import status_lines

    for line in _guard(lambda: status_lines(run_dir)):
        click.echo(line)


@main.command("report")
@click.argument(
    "run_dirs",
    nargs=-1,
    required=True,
    metavar="RUN_DIR [OTHER_RUN_DIR]",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option(
    "--html",
    "html_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Comparing two runs: also write the comparison as a page to this file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary (or comparison) as JSON.")
def report_command(run_dirs: tuple[Path, ...], html_out: Path | None, as_json: bool) -> None:
    """Rebuild report.json, tasks.csv and report.html of RUN_DIR from its journal.

    With two run directories A B, show them side by side with the ratio B/A (throughput,
    latency percentiles, cost, failures); nothing is written into either."""
    from batchgen.report.files import rebuild_reports
    from batchgen.run_text import rebuilt_lines

    if len(run_dirs) > 2:
        raise click.UsageError("give one run directory to rebuild, or two to compare")
    if len(run_dirs) == 2:
        _guard(lambda: compare_runs(run_dirs[0], run_dirs[1], html_out=html_out, as_json=as_json))
        return
    if html_out is not None:
        raise click.UsageError("--html is for comparing two runs; one run's page is report.html")
    run_dir = run_dirs[0]
    summary = _guard(lambda: rebuild_reports(run_dir))
    if as_json:
        click.echo(json.dumps(summary.to_json(), indent=2))
        return
    for line in rebuilt_lines(summary, run_dir):
        click.echo(line)


@main.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--rpm", type=click.FloatRange(min=0, min_open=True), help="Server rate limit (429 past it)."
)
@click.option("--max-concurrency", type=click.IntRange(min=1), help="Server concurrency limit.")
@click.option("--time-scale", type=click.FloatRange(min=0), default=1.0, show_default=True)
@click.option(
    "--image-bytes",
    default="realistic",
    show_default=True,
    help="small, realistic or a byte count.",
)
@click.option("--faults", default=None, help="e.g. '429=0.05,500=0.02,truncate=0.01'.")
@click.option(
    "--api-key-env", default=None, help="Demand the key held in this environment variable."
)
@click.option("--count-prompts", is_flag=True, help="Count answers per prompt in stats.")
def emulator_command(
    host: str,
    port: int,
    rpm: float | None,
    max_concurrency: int | None,
    time_scale: float,
    image_bytes: str,
    faults: str | None,
    api_key_env: str | None,
    count_prompts: bool,
) -> None:
    """Serve the AI/ML API, Google, OpenAI and fal image routes on HOST:PORT (all on loopback)."""
    from batchgen.emulator import EmulatorConfig, parse_faults, serve

    try:
        config = EmulatorConfig(
            time_scale=time_scale,
            rpm=rpm,
            max_concurrency=max_concurrency,
            image_bytes=int(image_bytes) if image_bytes.isdigit() else image_bytes,
            faults=parse_faults(faults) if faults else None,
            api_key=_env_key(api_key_env),
            count_prompts=count_prompts,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    serve(config, host=host, port=port)


def _env_key(name: str | None) -> str | None:
    if name is not None and not os.environ.get(name):
        raise click.BadParameter(f"{name} is not set", param_hint="--api-key-env")
    return None if name is None else os.environ[name]


@main.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the manifest."""
    from batchgen.manifest.schema import manifest_schema

    json.dump(manifest_schema(), sys.stdout, indent=2)
    click.echo()
