"""`batchgen plan` against a run directory: the pure plan, told what the directory already holds.
Nothing of the engine is loaded: planning sends nothing."""

from __future__ import annotations

from batchgen.expand import expand
from batchgen.models import Manifest
from batchgen.plan import Plan, make_plan
from batchgen.report.read import done_by_model, job_spend_usd
from batchgen.run.options import RunOptions, with_overrides
from batchgen.run.prepare import run_dir_for
from batchgen.store.journal import JOURNAL_FILE, Journal


def plan_job(
    manifest: Manifest, options: RunOptions, *, latency_scale: float | None = None
) -> Plan:
    """The plan, with what the run directory holds read through a read-only journal (nothing is
    written, no folder made)."""
    manifest = with_overrides(manifest, options)
    run_dir = run_dir_for(manifest, options.out)
    done: dict[str, int] = {}
    spent = 0.0
    if (run_dir / JOURNAL_FILE).is_file() and not options.fresh:
        journal = Journal.open_readonly(run_dir)
        try:
            done, spent = done_by_model(journal, expand(manifest)), job_spend_usd(journal)
        finally:
            journal.close()
    return make_plan(
        manifest,
        latency_scale=latency_scale,
        done_by_model=done,
        spent_usd=spent,
        run_dir=str(run_dir),
    )
