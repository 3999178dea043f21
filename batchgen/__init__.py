"""batchgen: render text-to-image jobs in bulk — concurrent, rate-limited, resumable, reported.

from batchgen import run, RunOptions
job = run("jobs/demo.yaml", RunOptions(out="out/demo"))   # in a notebook: await arun(...)
print(job.summary.images_per_s, job.summary.latency_s.request.p95)
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
from batchgen.expand import count_tasks, expand
from batchgen.manifest.load import load_manifest, parse_manifest
from batchgen.manifest.schema import manifest_schema
from batchgen.models import Manifest, Outcome, Task
from batchgen.plan import Plan, make_plan
from batchgen.report.summary import Summary
from batchgen.run.engine import Observer, RunResult
from batchgen.run.job import JobResult, RunOptions, arun, run, run_job

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
    "arun",
    "count_tasks",
    "expand",
    "load_manifest",
    "make_plan",
    "manifest_schema",
    "parse_manifest",
    "run",
    "run_job",
]
