"""What the command line says about a finished run: lines for people, a dict for --json."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchgen.report.names import REPORT_FILES, REPORT_HTML, REPORT_JSON
from batchgen.report.summary import Latency, Summary

if TYPE_CHECKING:  # `batchgen report` words a summary without loading the engine
    from batchgen.run.job import JobResult


def summary_lines(job: JobResult) -> list[str]:
    """A few lines for stdout: counts, speed, cost, failures by kind, where the report is."""
    s, result = job.summary, job.result
    tasks, latency = s.tasks, s.latency_s
    this_run = s.runs[-1].tasks_done  # from the journal: what is durably done
    lines = [
        f"{s.name}: {tasks.done} of {tasks.planned} tasks rendered "
        f"({s.images.count} images), {tasks.failed} failed, {tasks.pending} pending; "
        f"this run {this_run} done in {result.wall_s:.1f}s"
    ]
    request, queue, whole = latency.request, latency.queue, latency.end_to_end
    if request.count:
        lines.append(
            f"  {s.images_per_s:.2f} images/s; request p50 {request.p50:.2f}s "
            f"p95 {request.p95:.2f}s max {request.max:.2f}s{_split(latency.ttfb, latency.body)}; "
            f"cost ${s.cost_usd.total:.2f}"
        )
        lines.append(
            f"  apart: queue p50 {queue.p50:.2f}s p95 {queue.p95:.2f}s; "
            f"{_process(latency.process)}end-to-end p50 {whole.p50:.2f}s p95 {whole.p95:.2f}s"
        )
    for kind, count in s.errors.failed_tasks_by_kind.items():
        lines.append(f"  failed ({kind}): {count}; e.g. {s.errors.examples.get(kind, '')}")
    lines.append(f"  report: {job.run_dir / REPORT_HTML} (and {REPORT_JSON}, tasks.csv)")
    return lines


def _split(ttfb: Latency, body: Latency) -> str:
    if ttfb.p50 is None or body.p50 is None:
        return ""
    return f" (ttfb p50 {ttfb.p50:.2f}s, body p50 {body.p50 * 1000:.1f}ms)"


def _process(process: Latency) -> str:
    """Converting images (output.format/sizes), when the run did."""
    if process.p50 is None or process.p95 is None:
        return ""
    return f"process p50 {process.p50:.2f}s p95 {process.p95:.2f}s; "


def stop_line(job: JobResult) -> str | None:
    """Why the run did not finish every task (for stderr), or None when it did."""
    result = job.result
    if result.status != "complete":
        return f"stopped ({result.status}): {result.reason or ''}; rerun to resume"
    failed = job.summary.tasks.failed
    if failed:
        return f"{failed} tasks failed; see {job.run_dir / REPORT_HTML}"
    return None


def json_summary(job: JobResult) -> dict[str, Any]:
    """report.json's summary plus how this run ended and where its files are."""
    result = job.result
    return {
        **job.summary.to_json(),
        "run_dir": str(job.run_dir),
        "result": {
            "status": result.status,
            "reason": result.reason,
            "done": result.done,
            "failed": result.failed,
            "skipped": result.skipped,
            "wall_s": result.wall_s,
        },
    }


def rebuilt_lines(summary: Summary, run_dir: Path) -> list[str]:
    """What `batchgen report RUN_DIR` says: the job in one line, then the files written."""
    tasks, cost = summary.tasks, summary.cost_usd.total
    return [
        f"{summary.name}: {tasks.done} of {tasks.planned} tasks rendered "
        f"({summary.images.count} images), {tasks.failed} failed; "
        f"{summary.images_per_s:.2f} images/s; cost ${cost:.2f}",
        f"  rebuilt {', '.join(str(run_dir / name) for name in REPORT_FILES)}",
    ]
