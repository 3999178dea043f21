"""batchgen: render text-to-image jobs in bulk — concurrent, rate-limited, resumable, reported.

from batchgen import load_manifest, run, make_plan
job = run(load_manifest("jobs/demo.yaml"))
print(job.summary["images_per_s"])
"""

from __future__ import annotations

from .engine import Observer, RunResult
from .errors import (
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
from .expand import count_tasks, expand
from .job import JobResult, RunOptions, run, run_job
from .manifest import load_manifest, parse_manifest
from .models import Manifest, Outcome, Task
from .plan import Plan, make_plan
from .schema import manifest_schema

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
