"""Checks of two manifest sections beside the prompts: output (dir and filename placeholders)
and fallback (models named, no loops). load.py's checker runs them where the schema found no
problem, adding what they find to its problems in order."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol

from batchgen.manifest import outputs, rowspec
from batchgen.manifest.paths import path_problems
from batchgen.manifest.sources import Anchor, KeyPath, show

FILENAME_FIELDS = (
    "model", "aspect", "prompt_slug", "task_id", "index", "ext", "seed", "name", "resolution",
    "size", "task_shard",
)  # fmt: skip


class Checker(Protocol):
    """What these checks use of load.py's checker."""

    @property
    def base(self) -> Path: ...

    def clean(self, path: KeyPath) -> bool: ...

    def add(self, path: KeyPath, message: str, anchor: Anchor = "value") -> None: ...

    def placeholders(self, text: str, path: KeyPath, allowed: list[str]) -> list[str] | None: ...


def check_fallback(check: Checker, fallback: dict[str, str], models: list[str] | None) -> None:
    """Each fallback names a model of the job, not itself, and no chain loops."""
    for model, target in fallback.items():
        if models is not None and model not in models:
            check.add(
                ("fallback", model),
                f"{model!r} is not one of models; expected one of {', '.join(models)}",
                "key",
            )
        if target == model:
            check.add(
                ("fallback", model),
                f"falls back to itself, got {show(target)}; expected another model",
            )
    for cycle in _cycles(fallback):
        chain = " -> ".join([*cycle, cycle[0]])
        message = f"fallback cycle {chain}; expected a chain that ends"
        check.add(("fallback", cycle[0]), message, "key")


def check_output(check: Checker, values: dict[str, Any]) -> None:
    """output.dir and output.filename: safe paths, known placeholders, one file per image."""
    output = values.get("output", {})
    for path, message in outputs.problems(output):
        check.add(path, message)
    for key in ("dir", "filename"):
        if isinstance(output.get(key), str):
            for problem in path_problems(output[key]):
                check.add(("output", key), problem)
    if "dir" in output:
        check.placeholders(output["dir"], ("output", "dir"), ["name"])
    if "filename" not in output:
        return
    path, filename = ("output", "filename"), output["filename"]
    fields = rowspec.filename_fields(values.get("prompts"), check.base)
    allowed = [*FILENAME_FIELDS, *(name for name in fields if name not in FILENAME_FIELDS)]
    names = check.placeholders(filename, path, allowed)
    for message in rowspec.clashes(names or [], FILENAME_FIELDS, fields):
        check.add(path, message)
    needed = {
        "task_id": "or tasks would overwrite each other's files",
        "ext": "the image type is known only when it arrives",
    }
    if names is not None and rowspec.named_by_rows(values, names):
        del needed["task_id"]  # files by the user's own ids (rows.id_column)
    count = values.get("num_images", 1) if check.clean(("num_images",)) else 1
    if count > 1:
        needed["index"] = f"num_images is {count}: every image needs its own file"
    for name, why in needed.items():
        if names is not None and name not in names:
            check.add(path, f"must contain {{{name}}} ({why}), got {show(filename)}")
    if re.match(r"[/\\]|[A-Za-z]:", filename) or ".." in re.split(r"[/\\]", filename):
        check.add(
            path,
            f"must be a relative path without '..', got {show(filename)}; "
            "expected a path inside the output directory",
        )


def _cycles(fallback: dict[str, str]) -> list[list[str]]:
    """Each fallback loop once, starting from its smallest model."""
    cycles = []
    for start in fallback:
        chain = [start]
        while (step := fallback.get(chain[-1])) is not None and step not in chain:
            chain.append(step)
        if len(chain) > 1 and fallback.get(chain[-1]) == start and start == min(chain):
            cycles.append(chain)
    return cycles
