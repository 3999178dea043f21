"""The command line's parts that need no click: how a run ended, problems counted, the plan's
price by mode, exit codes, SIGTERM taken as Ctrl-C (batchgen/cli.py echoes and applies them)."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the run's start-up need not import the plan or the summary's wording
    from batchgen.models import Manifest
    from batchgen.plan import Plan, PriceByMode
    from batchgen.run.job import JobResult, RunOptions

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def tally(errors: int, warnings: int) -> str:
    said = f"{errors} error{'s' * (errors != 1)}"
    return said + (f", {warnings} warning{'s' * (warnings != 1)}" if warnings else "")


def exit_code(job: JobResult) -> int:
    result = job.result
    if result.status == "interrupted":
        return EXIT_INTERRUPTED
    if result.status != "complete" or job.summary.tasks.failed:
        return EXIT_FAILED
    return EXIT_OK


def ending_lines(job: JobResult, *, quiet: bool, as_json: bool) -> tuple[list[str], list[str]]:
    """What `batchgen run` says at the end: lines for stdout (the summary, or its JSON), then
    for stderr (why the run stopped, when the summary did not say it)."""
    from batchgen.run_text import json_summary, stop_line, summary_lines

    out: list[str] = []
    if as_json:
        out.append(json.dumps(json_summary(job), indent=2))
    elif not quiet:
        out += summary_lines(job)
    stopped = stop_line(job)
    if stopped is not None and (quiet or as_json or job.result.status != "complete"):
        return out, [stopped]
    return out, []


def plan_json(name: str, plan: Plan, prices: PriceByMode) -> dict[str, Any]:
    """`batchgen plan --json`: the plan, and what it costs live and as a batch."""
    by_mode = {"live_usd": prices.live_usd, "batch_usd": prices.batch_usd}
    return {"name": name, **plan.to_json(), "by_mode": by_mode}


def by_mode_line(prices: PriceByMode) -> str:
    if prices.batch_usd is None:
        return f"  live ${prices.live_usd:,.2f}; {prices.batch_refusal}"
    return (
        f"  live ${prices.live_usd:,.2f} vs batch ${prices.batch_usd:,.2f} "
        "(mode: batch; results within 24 h)"
    )


class _Interrupted(KeyboardInterrupt):
    """SIGTERM outside the engine (loading a large CSV, writing the report): the same as
    Ctrl-C, so it ends with a message and 130 rather than a bare 143."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Interrupted(signal.Signals(signum).name)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While a command runs, SIGTERM raises KeyboardInterrupt."""
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_on_cluster(
    manifest: Manifest, options: RunOptions, executor: str, workers: int | None
) -> JobResult:
    """`run --executor ray|ray://...`: the ray extra's driver (batchgen/cluster), imported only
    here, so `batchgen --help` and a local run never load it nor ray."""
    from batchgen.cluster.driver import ClusterOptions, run_on_ray  # noqa: PLC0415 - see above

    return run_on_ray(manifest, options, ClusterOptions(executor=executor, workers=workers))


def compare_runs(a_dir: Path, b_dir: Path, *, html_out: Path | None, as_json: bool) -> None:
    """`batchgen report A B`: the comparison on stdout (a table, or JSON), and as a page."""
    from rich.console import Console

    from batchgen.report.compare import (
        comparison_html,
        comparison_json,
        comparison_rows,
        comparison_table,
        read_run,
    )

    a, b = read_run(a_dir), read_run(b_dir)
    rows = comparison_rows(a.summary, b.summary)
    if as_json:  # plain JSON: rich would wrap long lines at the terminal's width
        sys.stdout.write(json.dumps(comparison_json(rows, a, b), indent=2) + "\n")
    else:
        Console(highlight=False).print(comparison_table(rows, a, b))
    if html_out is not None:
        html_out.write_text(comparison_html(rows, a, b), encoding="utf-8")
        if not as_json:
            sys.stdout.write(f"comparison page: {html_out}\n")
