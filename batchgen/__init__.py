"""batchgen: render text-to-image jobs in bulk — concurrent, rate-limited, resumable, reported.

from batchgen import run, RunOptions
job = run("jobs/demo.yaml", RunOptions(out="out/demo"))   # in a notebook: await arun(...)
print(job.summary.images_per_s, job.summary.latency_s.request.p95)
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
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
    from batchgen.run.job import JobResult, arun, run, run_job
    from batchgen.run.options import RunOptions

# Each public name is imported on first use (PEP 562): `batchgen run` imports the command line
# through this package, and the report, plan and batch modules it does not need before the
# first request would cost start-up time (tests/test_perf_imports.py).
_HOME: dict[str, str] = {
    "AuthError": "batchgen.errors",
    "BatchgenError": "batchgen.errors",
    "BudgetExceeded": "batchgen.errors",
    "DownloadError": "batchgen.errors",
    "JobResult": "batchgen.run.job",
    "JournalError": "batchgen.errors",
    "Manifest": "batchgen.models",
    "ManifestError": "batchgen.errors",
    "ModelRetired": "batchgen.errors",
    "Observer": "batchgen.run.engine",
    "Outcome": "batchgen.models",
    "Plan": "batchgen.plan",
    "ProviderError": "batchgen.errors",
    "ProviderTimeout": "batchgen.errors",
    "QuotaExhausted": "batchgen.errors",
    "RateLimited": "batchgen.errors",
    "Rejected": "batchgen.errors",
    "RunOptions": "batchgen.run.options",
    "RunResult": "batchgen.run.engine",
    "ServerError": "batchgen.errors",
    "SinkError": "batchgen.errors",
    "Summary": "batchgen.report.summary",
    "Task": "batchgen.models",
    "arun": "batchgen.run.job",
    "count_tasks": "batchgen.expand",
    "expand": "batchgen.expand",
    "load_manifest": "batchgen.manifest.load",
    "make_plan": "batchgen.plan",
    "manifest_schema": "batchgen.manifest.schema",
    "parse_manifest": "batchgen.manifest.load",
    "run": "batchgen.run.job",
    "run_job": "batchgen.run.job",
}

# The subpackage batchgen.run shares its name with the function run(): importing it first sets
# the attribute `run` to the subpackage (once), so it is imported here and the name cleared for
# __getattr__ to bind the function.
_importlib.import_module("batchgen.run")
del globals()["run"]

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


def __getattr__(name: str) -> _typing.Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'batchgen' has no attribute {name!r}")
    value = getattr(_importlib.import_module(home), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
