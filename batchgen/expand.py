"""Manifest -> a lazy stream of Tasks with stable ids, and the file path of every image (pure)."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import posixpath
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from batchgen.models import DEFAULT_RESOLUTION, Manifest, PromptSpec, Task

if TYPE_CHECKING:
    from batchgen.expand_rows import RowPrompt

SLUG_LENGTH = 40
SEGMENT_LENGTH = 100
SHARD_LENGTH = 2  # {task_shard}: 256 folders of hex digits
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SLUG_UNSAFE = re.compile(r"[^a-z0-9]+")


def task_id(
    *,
    model: str,
    prompt: str,
    aspect_ratio: str,
    seed: int | None,
    num_images: int,
    params: Mapping[str, Any],
    resolution: str = DEFAULT_RESOLUTION,
    row_id: str | None = None,
) -> str:
    """A stable hash of everything that changes the image, so reruns skip what is done; and of
    the row's id, so two rows alike but for their ids are two tasks with their own files."""
    key: dict[str, Any] = {
        "model": model,
        "prompt": prompt,
        "aspect_ratio": aspect_ratio,
        "seed": seed,
        "num_images": num_images,
        "params": params,
    }
    if resolution != DEFAULT_RESOLUTION:  # added later: ids of 1K tasks stay as they were
        key["resolution"] = resolution
    if row_id is not None:  # added later too: tasks without a row id keep their ids
        key["row_id"] = row_id
    blob = json.dumps(key, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def count_prompts(spec: PromptSpec) -> int:
    return math.prod(len(values) for _, values in spec.vars)


def count_tasks(manifest: Manifest) -> int:
    """How many tasks the manifest makes, without making them."""
    return sum(tasks for tasks, _ in count_by_model(manifest).values())


def count_by_model(manifest: Manifest) -> dict[str, tuple[int, int]]:
    """Tasks and images per model (a row may name its own model), without making them."""
    counts = dict.fromkeys(manifest.models, (0, 0))
    per_prompt = len(manifest.aspect_ratios) * (len(manifest.seeds) or 1)
    for spec in manifest.prompts:
        if spec.rows is not None:  # counted when the rows were validated
            found = spec.rows.count
            for model, tasks in found.tasks_by_model.items():
                images = found.images_by_model.get(model, 0)
                _add(counts, model, tasks, images)
            continue
        tasks = count_prompts(spec) * per_prompt
        for model in manifest.models:
            _add(counts, model, tasks, tasks * manifest.num_images)
    return counts


def _add(counts: dict[str, tuple[int, int]], model: str, tasks: int, images: int) -> None:
    had = counts.get(model, (0, 0))
    counts[model] = (had[0] + tasks, had[1] + images)


def expand_prompt(spec: PromptSpec) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield (prompt text, vars) for every combination of the spec's variables."""
    if not spec.is_template:
        yield spec.template, {}
        return
    names = [name for name, _ in spec.vars]
    for combo in itertools.product(*(values for _, values in spec.vars)):
        chosen = dict(zip(names, combo, strict=True))
        yield spec.template.format_map(chosen), chosen


def expand(manifest: Manifest) -> Iterator[Task]:
    """Yield every task lazily: prompts (rows x vars) x models x aspect ratios x seeds."""
    # imported here: expand_rows -> manifest -> load -> expand is a cycle at import time
    from batchgen.expand_rows import RowPrompt, row_prompts

    ordinal = itertools.count()
    for spec in manifest.prompts:
        if spec.rows is not None:
            for row in row_prompts(spec, spec.rows, manifest):
                yield from _tasks(manifest, row, ordinal)
            continue
        for prompt, chosen in expand_prompt(spec):
            yield from _tasks(manifest, RowPrompt(prompt, chosen), ordinal)


def _tasks(manifest: Manifest, one: RowPrompt, ordinal: Iterator[int]) -> Iterator[Task]:
    seeds: tuple[int | None, ...] = one.seeds or manifest.seeds or (None,)
    num_images = one.num_images or manifest.num_images
    params = manifest.params if one.params is None else {**manifest.params, **one.params}
    models = one.models or manifest.models
    aspects = one.aspect_ratios or manifest.aspect_ratios
    for model, aspect, seed in itertools.product(models, aspects, seeds):
        yield Task(
            id=task_id(
                model=model,
                prompt=one.prompt,
                aspect_ratio=aspect,
                seed=seed,
                num_images=num_images,
                params=params,
                resolution=manifest.resolution,
                row_id=one.row_id,
            ),
            ordinal=next(ordinal),
            prompt=one.prompt,
            model=model,
            aspect_ratio=aspect,
            num_images=num_images,
            seed=seed,
            params=params,
            vars=one.vars,
            resolution=manifest.resolution,
            row_id=one.row_id,
            row=one.row,
        )


def prompt_slug(prompt: str) -> str:
    """A short, filesystem-safe name: 'Racoon eating ice-cream' -> 'racoon-eating-ice-cream'."""
    slug = _SLUG_UNSAFE.sub("-", prompt.lower()).strip("-")
    return slug[:SLUG_LENGTH].rstrip("-") or "prompt"


def safe_segment(value: str) -> str:
    """Make a value safe inside one path segment: no separators, no '..', no NUL, bounded length."""
    cleaned = _UNSAFE.sub("-", value.replace("/", "_").replace(":", "x")).strip(".-")
    return cleaned[:SEGMENT_LENGTH] or "_"


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "none"  # a var named in the filename may belong to another prompt's template


def image_path(
    template: str, task: Task, *, index: int, ext: str, name: str, size: str = "original"
) -> str:
    """The image's path relative to the run's images/ folder, always inside it."""
    fields = _Fields({key: safe_segment(value) for key, value in task.row.items()})
    fields.update((key, safe_segment(value)) for key, value in task.vars.items())
    fields.update(
        model=safe_segment(task.model),
        aspect=safe_segment(task.aspect_ratio),
        prompt_slug=prompt_slug(task.prompt),
        task_id=task.id,
        task_shard=task.id[:SHARD_LENGTH],
        index=str(index),
        ext=safe_segment(ext),
        seed="none" if task.seed is None else str(task.seed),
        name=safe_segment(name),
        resolution=safe_segment(task.resolution),
        size=safe_segment(size),  # output.sizes: "original" or a variant's label ("400")
    )
    path = posixpath.normpath(template.format_map(fields))
    if path.startswith(("/", "..")) or "\x00" in path:
        raise ValueError(f"output.filename {template!r} leaves the images folder: {path!r}")
    return path
