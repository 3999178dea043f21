"""Price per image per model and provider, planning latencies, and the cost of an answer (pure).

The figures live in catalog.py; this module does the arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from batchgen import catalog
from batchgen.models import DEFAULT_RESOLUTION, Usage

USD_PER_CREDIT = 1 / 2_000_000  # AI/ML API: $1 = 2,000,000 credits
DEFAULT_KIND = "aimlapi"  # the built-in emulator bills like the AI/ML API
UNKNOWN_MODEL_LATENCY_S = 10.0
# A reported cost this many times the worst case is a unit mistake (credits read as dollars),
# not a price: it is counted at the table's price and flagged.
ABSURD_FACTOR = 1000.0


def price_per_image(
    model: str,
    *,
    kind: str = DEFAULT_KIND,
    resolution: str = DEFAULT_RESOLUTION,
    prices: Mapping[str, float] | None = None,
) -> float | None:
    """The manifest's `prices:` for the model, else the table's; None when neither knows it."""
    if prices and model in prices:
        return prices[model]
    offering = catalog.lookup(kind, model)
    return offering.price(resolution) if offering else None


def worst_case_usd(
    model: str,
    num_images: int,
    *,
    kind: str = DEFAULT_KIND,
    resolution: str = DEFAULT_RESOLUTION,
    prices: Mapping[str, float] | None = None,
) -> float:
    """What one request could cost at most; 0 when the model's price is unknown (a manifest
    with a budget cannot name such a model without giving its price)."""
    price = price_per_image(model, kind=kind, resolution=resolution, prices=prices)
    return price * num_images if price is not None else 0.0


def unpriced(
    models: Iterable[str],
    *,
    kind: str = DEFAULT_KIND,
    resolution: str = DEFAULT_RESOLUTION,
    prices: Mapping[str, float] | None = None,
) -> list[str]:
    """The models whose price neither the manifest nor the table knows."""
    return [
        m
        for m in dict.fromkeys(models)
        if price_per_image(m, kind=kind, resolution=resolution, prices=prices) is None
    ]


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
    prices: Mapping[str, float] | None = None,
) -> float:
    """Cost of a successful request: provider-reported usage where given, else the price table."""
    reported = reported_usd(usage)
    if reported is not None:
        return reported
    price = price_per_image(model, kind=kind, resolution=resolution, prices=prices)
    return price * images if price is not None else 0.0


@dataclass(frozen=True, slots=True)
class Charge:
    """What a request is counted as costing, and why it is flagged (None: as expected)."""

    usd: float
    flag: str | None = None


def charge(reported: float | None, *, table_usd: float, worst_usd: float) -> Charge:
    """Check a reported cost against the worst case reserved for the request. Above it: counted
    as reported and flagged. Negative, not finite or absurd: the table's price, flagged (never
    credit). `table_usd` is the table's price of the images that came back."""
    if reported is None:
        if table_usd > worst_usd + 1e-9:
            return Charge(table_usd, f"more images than asked: ${table_usd:g} > ${worst_usd:g}")
        return Charge(table_usd)
    if not math.isfinite(reported) or reported < 0:
        return Charge(table_usd, f"reported cost {reported!r} counted at the table's price")
    if worst_usd > 0 and reported > ABSURD_FACTOR * worst_usd:
        return Charge(table_usd, f"reported cost ${reported:g} is absurd; counted at the table's")
    if worst_usd > 0 and reported > worst_usd + 1e-9:
        return Charge(reported, f"reported cost ${reported:g} above the worst case ${worst_usd:g}")
    return Charge(reported)


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
