"""`mode: batch` (the providers' half-price batch APIs): where it can run, and its keys' values.

Batchable: OpenAI's image models (the Batch API's /v1/images/generations endpoint) and Gemini's
image models on Google (models/{model}:batchGenerateContent). Not batchable: Imagen on Google
(:predict has no batch mode), the AI/ML API (no batch API for its image models) and fal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from batchgen import catalog

if TYPE_CHECKING:
    from batchgen.models import Manifest

MODES = ("live", "batch")
FALLBACK_MODES = ("live",)
DEADLINE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")  # HH:MM, the machine's local time
NO_BATCH = {
    "aimlapi": "the AI/ML API has no batch API for its image models",
    "fal": "fal has no batch API; use mode: live",
}


def api_of(provider: Mapping[str, Any]) -> str:
    kind = str(provider.get("kind", "emulator"))
    return str(provider.get("dialect") or "aimlapi") if kind == "emulator" else kind


def imagen_refusal(name: str) -> str:
    return (
        f"{name} cannot run in mode: batch: Imagen models have no batch mode on Google "
        "(only Gemini image models do); use mode: live for it"
    )


def batchable_on_gemini(model: str) -> bool:
    offering = catalog.lookup("gemini", model)
    if offering is not None:
        return offering.method == "generateContent"
    return catalog.wire_model("gemini", model).startswith("gemini")


def batch_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """The Manifest fields of the batch keys (defaults: live, no fallback, no deadline)."""
    return {
        "mode": values.get("mode", "live"),
        "fallback_mode": values.get("fallback_mode"),
        "deadline": values.get("deadline"),
    }


BATCH_SCHEMA: dict[str, Any] = {
    "mode": {"type": "string", "enum": list(MODES)},
    "fallback_mode": {"type": "string", "enum": list(FALLBACK_MODES)},
    "deadline": {
        "type": "string",
        "pattern": DEADLINE.pattern,
        "x-expected": 'a local time "HH:MM"',
    },
}


def refusal(manifest: Manifest) -> str | None:
    """Why this (loaded) manifest cannot run in batch mode, or None (for --mode batch)."""
    api = manifest.provider.api
    if api in NO_BATCH:
        return f"batch is not possible: {NO_BATCH[api]}"
    if api == "gemini":
        for model in manifest.models:
            if not batchable_on_gemini(model):
                return imagen_refusal(model).replace(
                    " cannot run in mode: batch", " cannot be batched"
                )
    return None
