"""What a manifest will do before it does it: tasks done and left, the cost of what is left,
where a budget would stop the run, and how long it would take at the limits assumed (pure).

What the run directory already holds comes in as arguments (`done_by_model`, `spent_usd`),
read by batchgen.run.planning.plan_job through a read-only journal."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from batchgen import pricing
from batchgen.expand import count_by_model
from batchgen.manifest.batchmode import refusal
from batchgen.models import DEFAULT_CONCURRENCY, Manifest


@dataclass(frozen=True, slots=True)
class ModelPlan:
    model: str
    tasks: int
    images: int
    cost_usd: float | None  # None: no price known for this model
    done: int = 0  # already rendered in the run directory
    left: int = 0
    left_cost_usd: float | None = None
    latency_s: float = 0.0  # assumed per request (the catalog's typical figure, scaled)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "tasks": self.tasks,
            "images": self.images,
            "cost_usd": self.cost_usd,
            "done": self.done,
            "left": self.left,
            "left_cost_usd": self.left_cost_usd,
            "latency_s": self.latency_s,
        }


@dataclass(frozen=True, slots=True)
class BudgetStop:
    """Where a cap would stop the tasks left: after `tasks` of them (`fraction` of what is left)."""

    max_usd: float
    scope: str
    spent_usd: float  # what counts against the cap already (the job's, under scope job)
    tasks: int | None  # None: unknown (a model of the tasks left has no price)
    fraction: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "max_usd": self.max_usd,
            "scope": self.scope,
            "spent_usd": self.spent_usd,
            "stops_after_tasks": self.tasks,
            "stops_after_fraction": self.fraction,
        }


@dataclass(frozen=True, slots=True)
class Plan:
    tasks: int
    images: int
    cost_usd: float  # of what is left, priced models only; the unpriced are in `unpriced`
    duration_s: float  # of what is left
    concurrency: int | None  # None: adaptive
    requests_per_minute: float | None
    by_model: tuple[ModelPlan, ...]
    done: int = 0
    left: int = 0
    unpriced: tuple[str, ...] = ()
    assumed_concurrency: int = DEFAULT_CONCURRENCY  # what the duration was worked out at
    budget: BudgetStop | None = None
    run_dir: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "tasks": self.tasks,
            "images": self.images,
            "done": self.done,
            "left": self.left,
            "cost_usd": self.cost_usd,
            "unpriced": list(self.unpriced),
            "duration_s": self.duration_s,
            "concurrency": self.concurrency,
            "assumed_concurrency": self.assumed_concurrency,
            "requests_per_minute": self.requests_per_minute,
            "budget": self.budget.to_json() if self.budget else None,
            "run_dir": self.run_dir,
            "by_model": [model.to_json() for model in self.by_model],
        }


def make_plan(
    manifest: Manifest,
    *,
    latency_scale: float | None = None,
    done_by_model: Mapping[str, int] | None = None,
    spent_usd: float = 0.0,
    run_dir: str | None = None,
) -> Plan:
    """Estimate at the configured limits with typical latencies; fallbacks are not counted.
    `done_by_model`: tasks the run directory already holds; `spent_usd`: what counts against
    the cap already (the job's recorded spend, under `scope: job`); `latency_scale` defaults to
    the emulator's `time_scale` (1 for a real provider)."""
    if latency_scale is None:
        latency_scale = emulator_time_scale(manifest)
    counts = count_by_model(manifest)  # rows may name their own model and num_images
    tasks = sum(count for count, _ in counts.values())
    done = done_by_model or {}
    by_model = tuple(
        _model_plan(manifest, model, count, images, done.get(model, 0), latency_scale)
        for model, (count, images) in counts.items()
    )
    left = sum(m.left for m in by_model)
    concurrency = manifest.limits.concurrency or DEFAULT_CONCURRENCY
    duration_s = sum(m.left * m.latency_s for m in by_model) / concurrency
    rpm = manifest.limits.requests_per_minute
    if rpm:
        duration_s = max(duration_s, left * 60.0 / rpm)
    unpriced = tuple(m.model for m in by_model if m.left_cost_usd is None and m.left)
    left_cost = sum(m.left_cost_usd or 0.0 for m in by_model)
    return Plan(
        tasks=tasks,
        images=sum(images for _, images in counts.values()),
        cost_usd=left_cost,
        duration_s=duration_s,
        concurrency=manifest.limits.concurrency,
        requests_per_minute=rpm,
        by_model=by_model,
        done=tasks - left,
        left=left,
        unpriced=unpriced,
        assumed_concurrency=concurrency,
        budget=_budget_stop(manifest, left, left_cost, spent_usd, known=not unpriced),
        run_dir=run_dir,
    )


def _budget_stop(
    manifest: Manifest, left: int, left_cost: float, spent_usd: float, *, known: bool
) -> BudgetStop | None:
    """Tasks are sent in the manifest's order, models interleaved, so the average cost of a
    task left says how many fit in the room the cap leaves."""
    if manifest.max_usd is None:
        return None
    spent = spent_usd if manifest.budget_scope == "job" else 0.0
    if not known:
        return BudgetStop(manifest.max_usd, manifest.budget_scope, spent, None, None)
    room = max(manifest.max_usd - spent, 0.0)
    per_task = left_cost / left if left else 0.0
    fits = left if per_task <= 0 else min(left, math.floor(room / per_task + 1e-9))
    fraction = fits / left if left else 1.0
    return BudgetStop(manifest.max_usd, manifest.budget_scope, spent, fits, fraction)


def emulator_time_scale(manifest: Manifest) -> float:
    """How much faster than the real service the built-in emulator answers (1.0 otherwise)."""
    if manifest.provider.kind != "emulator":
        return 1.0
    scale = manifest.provider.options.get("time_scale", 1.0)
    return float(scale) if isinstance(scale, int | float) else 1.0


def _model_plan(
    manifest: Manifest, model: str, tasks: int, images: int, done: int, latency_scale: float
) -> ModelPlan:
    kind = manifest.provider.api
    price = pricing.price_per_image(
        model, kind=kind, resolution=manifest.resolution, prices=manifest.prices
    )
    left = max(tasks - done, 0)
    left_images = images * left / tasks if tasks else 0.0  # rows may ask for their own count
    return ModelPlan(
        model,
        tasks,
        images,
        None if price is None else price * images,
        done=tasks - left,
        left=left,
        left_cost_usd=None if price is None else price * left_images,
        latency_s=pricing.typical_latency_s(model, kind=kind) * latency_scale,
    )


@dataclass(frozen=True, slots=True)
class PriceByMode:
    """The same job's priced models at the live price and at the batch APIs' price."""

    live_usd: float
    batch_usd: float | None  # None: this provider or one of its models cannot be batched
    batch_refusal: str | None  # why not, when batch_usd is None


def price_by_mode(plan: Plan, manifest: Manifest) -> PriceByMode:
    """Live vs batch cost side by side (the plan's cost is at the live price)."""
    reason = refusal(manifest)
    factor = pricing.batch_factor(manifest.provider.api)
    if reason is None and factor is None:
        reason = f"{manifest.provider.api} has no batch price"
    if reason is not None or factor is None:
        return PriceByMode(plan.cost_usd, None, reason)
    return PriceByMode(plan.cost_usd, plan.cost_usd * factor, None)
