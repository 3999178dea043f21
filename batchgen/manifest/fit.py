"""Does each model, on the provider the manifest names, do what the manifest asks of it?
Checks against catalog.py, each problem located at the key that asks too much (pure).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from batchgen import catalog
from batchgen.manifest.sources import KeyPath, Problem
from batchgen.models import DEFAULT_RESOLUTION, EMULATOR_DIALECTS, ProviderConfig

AIMLAPI_PROMPT_CHARS = 400  # the AI/ML API's maxLength, also for models batchgen does not list
NO_LIMIT = sys.maxsize


def api_of(values: dict[str, Any]) -> str:
    """The wire format a manifest's provider speaks, as ProviderConfig.api decides it, read from
    values not yet checked (a dialect the schema refuses reads as none given)."""
    provider = values.get("provider")
    provider = provider if isinstance(provider, dict) else {}
    dialect = provider.get("dialect")
    kind = str(provider.get("kind", "emulator"))
    return ProviderConfig(kind, dialect=dialect if dialect in EMULATOR_DIALECTS else None).api


def prompt_limit(kind: str, models: list[Any] | None) -> tuple[int, str]:
    """The longest prompt (characters) every model accepts, and who says so, for messages."""
    if not models:
        return (AIMLAPI_PROMPT_CHARS, "the AI/ML API") if kind == "aimlapi" else (NO_LIMIT, "")
    limits = []
    for model in models:
        offering = catalog.lookup(kind, str(model))
        chars = offering.prompt_chars if offering else None
        if offering is None and kind == "aimlapi":
            chars = AIMLAPI_PROMPT_CHARS
        if chars is not None:
            limits.append((chars, "the AI/ML API" if kind == "aimlapi" else f"{model} on {kind}"))
    return min(limits, default=(NO_LIMIT, ""))


@dataclass
class _Fit:
    kind: str
    values: dict[str, Any]
    clean: Callable[[KeyPath], bool]
    problems: list[Problem]

    def add(self, path: KeyPath, message: str) -> None:
        self.problems.append(Problem(path, message))

    def value(self, key: str, default: Any) -> Any:
        return self.values.get(key, default) if self.clean((key,)) else default

    def model(self, name: str, path: KeyPath) -> None:
        if retired := catalog.retirement(self.kind, name):
            self.add(
                path,
                f"{name} was retired by {self.kind} on {retired.on} ({retired.source}); "
                f"expected its successor: {retired.successor}",
            )
            return
        offering = catalog.lookup(self.kind, name)
        if offering is None:
            sellers = catalog.sold_by(name)
            if sellers and self.kind in catalog.CLOSED_KINDS:
                self.add(
                    path,
                    f"{name} is not sold by provider kind {self.kind}; expected a model it "
                    f"sells, or provider.kind {' or '.join(sellers)}",
                )
            return
        where = f"{name} on {self.kind}"
        count = self.value("num_images", 1)
        if isinstance(count, int) and count > offering.max_images:
            self.add(
                ("num_images",),
                f"{count} is more than {where} makes per request; "
                f"expected at most {offering.max_images}",
            )
        if "seeds" in self.values and self.clean(("seeds",)) and not offering.seed:
            self.add(("seeds",), f"{where} takes no seed; remove seeds or choose another model")
        resolution = self.value("resolution", DEFAULT_RESOLUTION)
        if resolution not in offering.resolutions:
            self.add(
                ("resolution",),
                f"{where} makes {', '.join(offering.resolutions)} only, got {resolution!r}",
            )
        else:
            self.aspect_ratios(offering, where, resolution)
        self.params(offering, where)

    def aspect_ratios(self, offering: catalog.Offering, where: str, resolution: str) -> None:
        params = self.value("params", {})
        if isinstance(params, dict) and "size" in params:
            return  # the user chose the pixels themselves
        raw = self.value("aspect_ratios", ["1:1"])
        for index, aspect in enumerate(raw if isinstance(raw, list) else [raw]):
            if offering.size(aspect, resolution) is None:
                path: KeyPath = (
                    ("aspect_ratios", index) if isinstance(raw, list) else ("aspect_ratios",)
                )
                made = ", ".join(offering.sizes[resolution])
                self.add(
                    path,
                    f"{where} makes {made} at {resolution}, got {aspect!r}; "
                    "expected one of those (or params.size to choose the pixels)",
                )

    def params(self, offering: catalog.Offering, where: str) -> None:
        params = self.value("params", {})
        if self.kind == "gemini" and offering.method == "predict" and isinstance(params, dict):
            for key in params:
                if _camel(key) in catalog.GEMINI_API_REFUSES:
                    self.add(
                        ("params", key),
                        f"{where} takes no {key} on the Gemini API (Vertex AI only); remove it",
                    )
        asks_format = isinstance(params, dict) and "response_format" in params
        if self.kind == "openai" and asks_format and not offering.url_output:
            self.add(
                ("params", "response_format"),
                f"{where} always answers base64; remove response_format",
            )


def _camel(name: str) -> str:
    """params are sent in Google's camelCase (providers/gemini.py): compare in that form."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def check_models(values: dict[str, Any], clean: Callable[[KeyPath], bool]) -> list[Problem]:
    """Every way the manifest asks a model for what it cannot do on the chosen provider."""
    if not clean(("models",)) or not clean(("provider",)):
        return []
    fit = _Fit(api_of(values), values, clean, [])
    raw = values["models"]
    for index, name in enumerate(raw if isinstance(raw, list) else [raw]):
        fit.model(str(name), ("models", index) if isinstance(raw, list) else ("models",))
    return list(dict.fromkeys(fit.problems))  # one model or many: each complaint once
