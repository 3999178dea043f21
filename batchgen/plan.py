"""What a manifest will do before it does it: tasks, images, cost and duration estimates (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from batchgen import pricing
from batchgen.expand import count_tasks
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


def make_plan(manifest: Manifest, *, latency_scale: float | None = None) -> Plan:
    """Estimate at the configured limits with typical latencies; fallbacks are not counted.
    `latency_scale` defaults to the emulator's `time_scale` (1 for a real provider)."""
    if latency_scale is None:
        latency_scale = emulator_time_scale(manifest)
    tasks = count_tasks(manifest)
    per_model = tasks // len(manifest.models)
    kind = manifest.provider.api
    by_model = tuple(_model_plan(manifest, model, per_model) for model in manifest.models)
    busy_s = sum(
        per_model * pricing.typical_latency_s(m, kind=kind) * latency_scale for m in manifest.models
    )
    duration_s = busy_s / (manifest.limits.concurrency or DEFAULT_CONCURRENCY)
    rpm = manifest.limits.requests_per_minute
    if rpm:
        duration_s = max(duration_s, tasks * 60.0 / rpm)
    return Plan(
        tasks=tasks,
        images=tasks * manifest.num_images,
        cost_usd=sum(m.cost_usd or 0.0 for m in by_model),
        duration_s=duration_s,
        concurrency=manifest.limits.concurrency,
        requests_per_minute=rpm,
        by_model=by_model,
    )


def emulator_time_scale(manifest: Manifest) -> float:
    """How much faster than the real service the built-in emulator answers (1.0 otherwise)."""
    if manifest.provider.kind != "emulator":
        return 1.0
    scale = manifest.provider.options.get("time_scale", 1.0)
    return float(scale) if isinstance(scale, int | float) else 1.0


def _model_plan(manifest: Manifest, model: str, tasks: int) -> ModelPlan:
    price = pricing.price_per_image(
        model, kind=manifest.provider.api, resolution=manifest.resolution
    )
    images = tasks * manifest.num_images
    return ModelPlan(model, tasks, images, None if price is None else price * images)
