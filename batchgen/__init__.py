"""batchgen: render text-to-image jobs in bulk — concurrent, rate-limited, resumable, reported.

from batchgen import load_manifest, run, make_plan
job = run(load_manifest("jobs/demo.yaml"))
print(job.summary.images_per_s, job.summary.latency_s.end_to_end.p95)
"""

from __future__ import annotations

from batchgen.errors import (
    AuthError,
    BatchgenError,
    BudgetExceeded,
    DownloadError,
    JournalError,
    ManifestError,
    ModelRetired,
    ProviderError,
    ProviderTimeout,
    QuotaExhausted,
    RateLimited,
    Rejected,
    ServerError,
    SinkError,
)

# isort: off
# manifest before expand: expand reads rows through batchgen.manifest, whose loader imports expand.
from batchgen.manifest import load_manifest, parse_manifest
from batchgen.expand import count_tasks, expand

# isort: on
from batchgen.manifest.schema import manifest_schema
from batchgen.models import Manifest, Outcome, Task
from batchgen.plan import Plan, make_plan
from batchgen.report.summary import Summary
from batchgen.run.engine import Observer, RunResult
from batchgen.run.job import JobResult, RunOptions, run, run_job

__all__ = [
    "AuthError",
    "BatchgenError",
    "BudgetExceeded",
    "DownloadError",
    "JobResult",
    "JournalError",
    "Manifest",
    "ManifestError",
    "ModelRetired",
    "Observer",
    "Outcome",
    "Plan",
    "ProviderError",
    "ProviderTimeout",
    "QuotaExhausted",
    "RateLimited",
    "Rejected",
    "RunOptions",
    "RunResult",
    "ServerError",
    "SinkError",
    "Summary",
    "Task",
    "count_tasks",
    "expand",
    "load_manifest",
    "make_plan",
    "manifest_schema",
    "parse_manifest",
    "run",
    "run_job",
]
