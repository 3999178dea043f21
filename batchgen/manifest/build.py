"""A checked manifest's values -> the Manifest the run uses: defaults filled in, numbers given
their types (load.py calls `build` once every check has passed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from batchgen.manifest import outputs
from batchgen.manifest.batchmode import batch_settings
from batchgen.manifest.schema import EMULATOR_OPTIONS
from batchgen.models import (
    DEFAULT_RESOLUTION,
    NOTIFY_EVENTS,
    Limits,
    Manifest,
    NotifyConfig,
    PromptSpec,
    ProviderConfig,
)

PROVIDER_DEFAULTS = {
    "aimlapi": {"base_url": "https://api.aimlapi.com", "api_key_env": "AIMLAPI_API_KEY"},
}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def build(
    values: dict[str, Any],
    prompts: tuple[PromptSpec, ...],
    source: Path,
    warnings: tuple[str, ...],
) -> Manifest:
    budget = values.get("budget", {})
    return Manifest(
        name=values.get("name") or _default_name(source),
        prompts=prompts,
        models=tuple(as_list(values["models"])),
        provider=_provider(values.get("provider", {})),
        fallback=dict(values.get("fallback", {})),
        aspect_ratios=tuple(as_list(values.get("aspect_ratios", "1:1"))),
        resolution=values.get("resolution", DEFAULT_RESOLUTION),
        num_images=int(values.get("num_images", 1)),
        seeds=tuple(int(seed) for seed in as_list(values.get("seeds", []))),
        params=dict(values.get("params", {})),
        limits=_limits(values.get("limits", {})),
        max_usd=float(budget["max_usd"]) if budget else None,
        budget_scope=budget.get("scope", "run") if budget else "run",
        prices={model: float(usd) for model, usd in values.get("prices", {}).items()},
        output=outputs.output_config(values.get("output", {})),
        source=source,
        warnings=warnings,
        notify=notify_config(values.get("notify")),
        **batch_settings(values),
    )


def notify_config(raw: dict[str, Any] | None) -> NotifyConfig | None:
    if not raw or not (raw.get("webhook_env") or raw.get("command")):
        return None  # `when:` alone sends nothing anywhere
    when = as_list(raw.get("when", list(NOTIFY_EVENTS)))
    return NotifyConfig(
        webhook_env=raw.get("webhook_env"), command=raw.get("command"), when=tuple(when)
    )


def _default_name(source: Path) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", source.stem).strip("-")[:100] or "manifest"


def _provider(raw: dict[str, Any]) -> ProviderConfig:
    kind = raw.get("kind", "emulator")
    settings = {**PROVIDER_DEFAULTS.get(kind, {}), **raw}
    options = {key: _option(key, value) for key, value in raw.items() if key in EMULATOR_OPTIONS}
    return ProviderConfig(
        kind=kind,
        base_url=settings.get("base_url"),
        api_key_env=settings.get("api_key_env"),
        options=options,
        dialect=raw.get("dialect"),
        allow_private_image_hosts=raw.get("allow_private_image_hosts") is True,
    )


def _option(key: str, value: Any) -> Any:
    kind = EMULATOR_OPTIONS[key].get("type")
    if kind == "number":
        return float(value)
    if kind == "integer" or isinstance(value, float):
        return int(value)  # 8.0 is an integer to JSON Schema; hand on a plain int
    return value


_LIMIT_TYPES = {
    "concurrency": int,
    "requests_per_minute": float,
    "request_timeout_s": float,
    "max_attempts": int,
}


def _limits(raw: dict[str, Any]) -> Limits:
    settings: dict[str, Any] = {
        key: None if value is None else _LIMIT_TYPES[key](value) for key, value in raw.items()
    }
    return Limits(**settings)
