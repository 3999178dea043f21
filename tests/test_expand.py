"""Expansion: counts, order, stable ids, templating, safe output paths."""

from __future__ import annotations

import itertools
import tracemalloc
from typing import Any

import pytest

from batchgen.expand import count_tasks, expand, image_path, prompt_slug, safe_segment, task_id
from batchgen.models import Manifest, PromptSpec, Task

FAST = "google/imagen-4.0-fast-generate-001"
STANDARD = "google/imagen-4.0-generate-001"


def manifest(**changes: object) -> Manifest:
    base: dict[str, object] = {
        "name": "t",
        "prompts": (
            PromptSpec("Racoon eating ice-cream"),
            PromptSpec(
                "Studio photo of {product}, {style}",
                vars=(("product", ("mug", "lamp", "chair")), ("style", ("minimal", "vivid"))),
                is_template=True,
            ),
        ),
        "models": (FAST, STANDARD),
        "aspect_ratios": ("1:1", "16:9"),
        "num_images": 2,
        "seeds": (1, 2),
    }
    base.update(changes)
    return Manifest(**base)  # type: ignore[arg-type]


def test_count_matches_expansion() -> None:
    m = manifest()
    tasks = list(expand(m))
    assert count_tasks(m) == len(tasks) == (1 + 3 * 2) * 2 * 2 * 2
    assert [t.ordinal for t in tasks] == list(range(len(tasks)))


def test_templates_fill_every_combination() -> None:
    prompts = {t.prompt for t in expand(manifest(models=(FAST,), aspect_ratios=("1:1",), seeds=()))}
    assert prompts == {"Racoon eating ice-cream"} | {
        f"Studio photo of {p}, {s}" for p in ("mug", "lamp", "chair") for s in ("minimal", "vivid")
    }


def test_plain_prompts_keep_braces_literally() -> None:
    m = manifest(prompts=(PromptSpec("a {literal} brace"),), models=(FAST,), seeds=())
    assert [t.prompt for t in expand(m)] == ["a {literal} brace", "a {literal} brace"]


def test_ids_are_stable_and_depend_on_what_changes_the_image() -> None:
    first = [t.id for t in expand(manifest())]
    again = [t.id for t in expand(manifest())]
    assert first == again
    assert len(set(first)) == len(first)
    base: dict[str, Any] = {
        "model": FAST,
        "prompt": "p",
        "aspect_ratio": "1:1",
        "seed": None,
        "num_images": 1,
        "params": {},
    }
    variants: list[dict[str, Any]] = [
        {"model": STANDARD}, {"prompt": "q"}, {"aspect_ratio": "16:9"}, {"seed": 7},
        {"num_images": 2}, {"params": {"enhance_prompt": False}},
    ]  # fmt: skip
    ids = {task_id(**{**base, **v}) for v in variants}
    assert len(ids) == len(variants) and task_id(**base) not in ids


def test_id_ignores_the_order_of_params() -> None:
    base = {"model": FAST, "prompt": "p", "aspect_ratio": "1:1", "seed": None, "num_images": 1}
    a = task_id(**base, params={"a": 1, "b": 2})  # type: ignore[arg-type]
    b = task_id(**base, params={"b": 2, "a": 1})  # type: ignore[arg-type]
    assert a == b


def test_expansion_is_lazy_for_a_million_tasks() -> None:
    values = tuple(str(i) for i in range(1000))
    big = manifest(
        prompts=(PromptSpec("{a} {b}", vars=(("a", values), ("b", values)), is_template=True),),
        models=(FAST,),
        aspect_ratios=("1:1",),
        seeds=(),
    )
    assert count_tasks(big) == 1_000_000
    tracemalloc.start()
    try:
        first = list(itertools.islice(expand(big), 1000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(first) == 1000
    assert peak < 5_000_000  # a materialised list of a million tasks would need hundreds of MB


def test_prompt_slug() -> None:
    assert prompt_slug("Racoon eating ice-cream!") == "racoon-eating-ice-cream"
    assert prompt_slug("日本語") == "prompt"
    assert len(prompt_slug("x" * 500)) <= 40


@pytest.mark.parametrize("hostile", ["../../etc/passwd", "/abs/path", "a\x00b", "..", "x" * 1000])
def test_hostile_values_stay_inside_the_images_folder(hostile: str) -> None:
    m = manifest(
        prompts=(PromptSpec("{v}", vars=(("v", (hostile,)),), is_template=True),),
        models=(FAST,),
        seeds=(),
    )
    task = next(expand(m))
    path = image_path(
        "{v}/{model}/{prompt_slug}-{task_id}-{index}.{ext}", task, index=0, ext="png", name="n"
    )
    assert not path.startswith(("/", "..")) and "\x00" not in path
    assert all(len(part) <= 100 for part in path.split("/"))
    assert ".." not in path.split("/")


def test_default_layout() -> None:
    task = next(expand(manifest(models=(FAST,), aspect_ratios=("16:9",), seeds=())))
    path = image_path(
        "{model}/{aspect}/{prompt_slug}-{task_id}-{index}.{ext}", task, index=1, ext="png", name="n"
    )
    assert (
        path == f"google_imagen-4.0-fast-generate-001/16x9/racoon-eating-ice-cream-{task.id}-1.png"
    )


def test_safe_segment() -> None:
    assert safe_segment("google/imagen-4.0") == "google_imagen-4.0"
    assert safe_segment("16:9") == "16x9"
    assert safe_segment("..") == "_"


def test_a_filename_var_from_another_template_is_none() -> None:
    task = next(expand(manifest(models=(FAST,), seeds=())))  # the plain prompt: no vars
    path = image_path("{product}/{task_id}-{index}.{ext}", task, index=0, ext="png", name="n")
    assert path == f"none/{task.id}-0.png"


def test_a_built_in_field_wins_over_a_var_and_a_var_over_a_column() -> None:
    task = Task(
        id="ab12",
        ordinal=0,
        prompt="p",
        model=FAST,
        aspect_ratio="1:1",
        num_images=1,
        vars={"model": "var-model", "style": "from/var"},
        row={"style": "from-column", "sku": "SKU 1/2", "model": "column-model"},
    )
    template = "{model}/{style}/{sku}/{task_shard}-{index}.{ext}"
    path = image_path(template, task, index=3, ext="png", name="n")
    assert path == "google_imagen-4.0-fast-generate-001/from_var/SKU-1_2/ab-3.png"
