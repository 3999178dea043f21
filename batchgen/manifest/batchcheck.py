"""Located problems of `mode: batch` in a manifest being loaded (where it cannot run, and why)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchgen.manifest.batchmode import NO_BATCH, api_of, batchable_on_gemini, imagen_refusal
from batchgen.manifest.sources import Problem


def batch_problems(values: Mapping[str, Any]) -> list[Problem]:
    """Located reasons `mode: batch` cannot run here (none when the mode is live)."""
    if values.get("mode") != "batch":
        return []
    provider = values.get("provider")
    api = api_of(provider if isinstance(provider, Mapping) else {})
    if api in NO_BATCH:
        return [Problem(("mode",), f"mode: batch is not possible: {NO_BATCH[api]}")]
    if api != "gemini":
        return []
    models = values.get("models")
    names = [models] if isinstance(models, str) else list(models or [])
    return [
        Problem(
            ("models", index) if not isinstance(models, str) else ("models",), imagen_refusal(name)
        )
        for index, name in enumerate(names)
        if isinstance(name, str) and not batchable_on_gemini(name)
    ]
