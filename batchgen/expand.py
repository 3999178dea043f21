"""Manifest -> a lazy stream of Tasks with stable ids, and the file path of every image (pure)."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import posixpath
import re
from collections.abc import Iterator, Mapping
from typing import Any

from batchgen.models import DEFAULT_RESOLUTION, Manifest, PromptSpec, Task

SLUG_LENGTH = 40
SEGMENT_LENGTH = 100
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
) -> str:
    """A stable hash of everything that changes the image, so reruns skip what is done."""
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
    blob = json.dumps(key, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def count_prompts(spec: PromptSpec) -> int:
    return math.prod(len(values) for _, values in spec.vars)


def count_tasks(manifest: Manifest) -> int:
    """How many tasks the manifest makes, without making them."""
    prompts = sum(count_prompts(spec) for spec in manifest.prompts)
    seeds = len(manifest.seeds) or 1
    return prompts * len(manifest.models) * len(manifest.aspect_ratios) * seeds


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
    """Yield every task lazily: prompts x models x aspect ratios x seeds."""
    seeds: tuple[int | None, ...] = manifest.seeds or (None,)
    ordinal = 0
    for spec in manifest.prompts:
        for prompt, chosen in expand_prompt(spec):
            for model, aspect, seed in itertools.product(
                manifest.models, manifest.aspect_ratios, seeds
            ):
                yield Task(
                    id=task_id(
                        model=model,
                        prompt=prompt,
                        aspect_ratio=aspect,
                        seed=seed,
                        num_images=manifest.num_images,
                        params=manifest.params,
                        resolution=manifest.resolution,
                    ),
                    ordinal=ordinal,
                    prompt=prompt,
                    model=model,
                    aspect_ratio=aspect,
                    num_images=manifest.num_images,
                    seed=seed,
                    params=manifest.params,
                    vars=chosen,
                    resolution=manifest.resolution,
                )
                ordinal += 1


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


def image_path(template: str, task: Task, *, index: int, ext: str, name: str) -> str:
    """The image's path relative to the run's images/ folder, always inside it."""
    fields = _Fields({key: safe_segment(value) for key, value in task.vars.items()})
    fields.update(
        model=safe_segment(task.model),
        aspect=safe_segment(task.aspect_ratio),
        prompt_slug=prompt_slug(task.prompt),
        task_id=task.id,
        index=str(index),
        ext=safe_segment(ext),
        seed="none" if task.seed is None else str(task.seed),
        name=safe_segment(name),
        resolution=safe_segment(task.resolution),
    )
    path = posixpath.normpath(template.format_map(fields))
    if path.startswith(("/", "..")) or "\x00" in path:
        raise ValueError(f"output.filename {template!r} leaves the images folder: {path!r}")
    return path
