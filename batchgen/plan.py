"""What a manifest will do before it does it: tasks, images, cost and duration estimates (pure)."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class Plan:
    tasks: int
    images: int
    cost_usd: float  # of the priced models; unpriced ones are listed in by_model
    duration_s: float
    concurrency: int | None  # None: adaptive
    requests_per_minute: float | None
    by_model: tuple[ModelPlan, ...]


def make_plan(manifest: Manifest, *, latency_scale: float = 1.0) -> Plan:
    """Estimate at the configured limits with typical latencies; fallbacks are not counted."""
    counts = count_by_model(manifest)
    tasks = sum(count for count, _ in counts.values())
    kind = manifest.provider.api
    by_model = tuple(
        _model_plan(manifest, model, count, images) for model, (count, images) in counts.items()
    )
    busy_s = sum(
        count * pricing.typical_latency_s(model, kind=kind) * latency_scale
        for model, (count, _) in counts.items()
    )
    duration_s = busy_s / (manifest.limits.concurrency or DEFAULT_CONCURRENCY)
    rpm = manifest.limits.requests_per_minute
    if rpm:
        duration_s = max(duration_s, tasks * 60.0 / rpm)
    return Plan(
        tasks=tasks,
        images=sum(images for _, images in counts.values()),
        cost_usd=sum(m.cost_usd or 0.0 for m in by_model),
        duration_s=duration_s,
        concurrency=manifest.limits.concurrency,
        requests_per_minute=rpm,
        by_model=by_model,
    )


def _model_plan(manifest: Manifest, model: str, tasks: int, images: int) -> ModelPlan:
    price = pricing.price_per_image(
        model, kind=manifest.provider.api, resolution=manifest.resolution
    )
    return ModelPlan(model, tasks, images, None if price is None else price * images)


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
