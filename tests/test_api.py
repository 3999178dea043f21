"""The public surface is exactly batchgen.__all__: a name added or dropped is a decision."""

from __future__ import annotations
import __future__

import importlib
import types

import batchgen

PUBLIC = [
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


def test_all_is_exactly_the_public_set() -> None:
    assert sorted(batchgen.__all__) == sorted(PUBLIC)
    assert len(set(batchgen.__all__)) == len(batchgen.__all__)


def test_every_public_name_imports() -> None:
    module = importlib.import_module("batchgen")
    for name in PUBLIC:
        assert getattr(module, name, None) is not None, name
    namespace: dict[str, object] = {}
    exec("from batchgen import *", namespace)  # what a star import gives is the same set
    assert sorted(k for k in namespace if k != "__builtins__") == sorted(PUBLIC)


def test_nothing_public_at_the_top_is_left_out_of_all() -> None:
    extra = [
        name
        for name, value in vars(batchgen).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)  # submodules: batchgen.errors, run, ...
        and value is not __future__.annotations  # `from __future__ import annotations`
        and name not in batchgen.__all__
    ]
    assert not extra, extra
