"""Price per image per model and provider, planning latencies, and the cost of an answer (pure).

The figures live in catalog.py; this module does the arithmetic.
"""

from __future__ import annotations

from batchgen import catalog
from batchgen.models import DEFAULT_RESOLUTION, Usage

USD_PER_CREDIT = 1 / 2_000_000  # AI/ML API: $1 = 2,000,000 credits
DEFAULT_KIND = "aimlapi"  # the built-in emulator bills like the AI/ML API
UNKNOWN_MODEL_LATENCY_S = 10.0


def price_per_image(
    model: str, *, kind: str = DEFAULT_KIND, resolution: str = DEFAULT_RESOLUTION
) -> float | None:
    offering = catalog.lookup(kind, model)
    return offering.price(resolution) if offering else None


def worst_case_usd(
    model: str,
    num_images: int,
    *,
    kind: str = DEFAULT_KIND,
    resolution: str = DEFAULT_RESOLUTION,
) -> float:
    """What one request could cost at most; 0 when the model's price is unknown."""
    price = price_per_image(model, kind=kind, resolution=resolution)
    return price * num_images if price is not None else 0.0


def reported_usd(usage: Usage) -> float | None:
    """The provider's own figure: usd_spent, else credits converted."""
    if usage.usd is not None:
        return usage.usd
    if usage.credits is not None:
        return usage.credits * USD_PER_CREDIT
    return None


def cost_usd(
    model: str,
    images: int,
    usage: Usage,
    *,
    kind: str = DEFAULT_KIND,
    resolution: str = DEFAULT_RESOLUTION,
) -> float:
    """Cost of a successful request: provider-reported usage where given, else the price table."""
    reported = reported_usd(usage)
    if reported is not None:
        return reported
    price = price_per_image(model, kind=kind, resolution=resolution)
    return price * images if price is not None else 0.0


def typical_latency_s(model: str, *, kind: str = DEFAULT_KIND) -> float:
    offering = catalog.lookup(kind, model)
    return offering.typical_latency_s if offering else UNKNOWN_MODEL_LATENCY_S


# The batch APIs' discount on the live price: 50% for OpenAI's Batch API
# (platform.openai.com/docs/guides/batch: "50% cost discount") and Gemini's Batch Mode
# (ai.google.dev/gemini-api/docs/batch-mode: "at 50% of the standard cost"). None: no batch API.
BATCH_FACTOR: dict[str, float] = {"openai": 0.5, "gemini": 0.5}


def batch_factor(kind: str) -> float | None:
    """What a batch request costs as a share of the live price (None: the kind has no batch)."""
    return BATCH_FACTOR.get(kind)
