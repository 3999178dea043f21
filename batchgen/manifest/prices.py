"""A budget needs a price for every model it may send to: the manifest's check of that."""

from __future__ import annotations

from typing import Any

from batchgen import pricing
from batchgen.manifest import fit
from batchgen.manifest.sources import KeyPath, Problem
from batchgen.models import DEFAULT_RESOLUTION


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def unpriced_under_budget(values: dict[str, Any]) -> list[Problem]:
    """A model (or fallback) with no known price cannot be held to a budget: its worst case
    would read as $0. Located at the model, asking for `prices:`."""
    if not isinstance(values.get("budget"), dict):
        return []
    prices = values.get("prices") or {}
    kind = fit.api_of(values)
    problems = []
    listed: list[tuple[KeyPath, Any]] = [
        (("models", i), m) for i, m in enumerate(_as_list(values.get("models", [])))
    ]
    if not isinstance(values.get("models"), list):
        listed = [(("models",), values.get("models"))]
    fallback = values.get("fallback") or {}
    listed += [(("fallback", key), target) for key, target in fallback.items()]
    for path, model in listed:
        if not isinstance(model, str) or model in prices:
            continue
        resolution = values.get("resolution", DEFAULT_RESOLUTION)
        if pricing.price_per_image(model, kind=kind, resolution=resolution) is None:
            problems.append(Problem(path, unpriced_message(model)))
    return problems


def unpriced_message(model: str) -> str:
    return (
        f"model {model!r} has no known price, so a budget cannot hold it; "
        f"give its USD per image in prices: {{{model}: 0.05}}"
    )
