"""Price per image per model, planning latencies, and the cost of an answer (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from .models import Usage

USD_PER_CREDIT = 1 / 2_000_000  # AI/ML API: $1 = 2,000,000 credits


@dataclass(frozen=True, slots=True)
class ModelFacts:
    price_usd: float  # per image, as the AI/ML API bills it
    typical_latency_s: float  # for planning only; the report measures the real thing


MODELS: dict[str, ModelFacts] = {
    "google/imagen-4.0-fast-generate-001": ModelFacts(price_usd=0.021, typical_latency_s=5.0),
    "google/imagen-4.0-generate-001": ModelFacts(price_usd=0.042, typical_latency_s=10.0),
    "google/imagen-4.0-ultra-generate-001": ModelFacts(price_usd=0.063, typical_latency_s=25.0),
    "google/imagen4/preview": ModelFacts(price_usd=0.06, typical_latency_s=10.0),
    "imagen4/preview": ModelFacts(price_usd=0.06, typical_latency_s=10.0),
}
UNKNOWN_MODEL_LATENCY_S = 10.0


def price_per_image(model: str) -> float | None:
    facts = MODELS.get(model)
    return facts.price_usd if facts else None


def worst_case_usd(model: str, num_images: int) -> float:
    """What one request could cost at most; 0 when the model's price is unknown."""
    price = price_per_image(model)
    return price * num_images if price is not None else 0.0


def reported_usd(usage: Usage) -> float | None:
    """The provider's own figure: usd_spent, else credits converted."""
    if usage.usd is not None:
        return usage.usd
    if usage.credits is not None:
        return usage.credits * USD_PER_CREDIT
    return None


def cost_usd(model: str, images: int, usage: Usage) -> float:
    """Cost of a successful request: provider-reported usage where given, else the price table."""
    reported = reported_usd(usage)
    if reported is not None:
        return reported
    price = price_per_image(model)
    return price * images if price is not None else 0.0


def typical_latency_s(model: str) -> float:
    facts = MODELS.get(model)
    return facts.typical_latency_s if facts else UNKNOWN_MODEL_LATENCY_S
