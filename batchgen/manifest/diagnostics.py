"""Manifest notes that are not errors: a model name batchgen does not know, located at its key
with the closest known name. Showing them (source excerpts) is manifest/excerpts.py's job.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from batchgen import catalog
from batchgen.manifest.sources import Document, KeyPath, Problem, show

_FAMILY = re.compile(r"(?:google/|fal-ai/)?([a-z]+)")  # a model's family, past its namespace


def known_models() -> list[str]:
    """Every model name the catalog knows, on any provider: the one list suggestions read."""
    return [name for model in catalog.MODELS for name in model.names]


def model_note(name: str, known: Sequence[str]) -> str | None:
    """Why `name` looks wrong, with the closest known name; None when it is known."""
    if name in known:
        return None
    close = closest_model(name, known)
    if close:
        return f"unknown model {show(name)}; did you mean {close!r}? (sent as written otherwise)"
    return (
        f"unknown model {show(name)}; expected one of {', '.join(known)} "
        "(other names are sent as written, with no price known)"
    )


def closest_model(name: str, known: Sequence[str]) -> str | None:
    """The known name nearest `name`, ignoring case, and within its family (imagen, gemini,
    gpt...) when any known name is of it: 'imagen-5' is nearer 'gpt-image-1.5' by letters
    alone, but is not a typo of it."""
    family = [model for model in known if _family(model) == _family(name)]
    by_lower = {model.lower(): model for model in family or known}
    cutoff = 0.5 if family else 0.6
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[close[0]] if close else None


def _family(model: str) -> str:
    """'google/imagen-4.0-fast-generate-001' -> 'imagen'; 'gpt-image-2' -> 'gpt'."""
    found = _FAMILY.match(model.lower())
    return found.group(1) if found else ""


def model_warnings(values: dict[str, Any], document: Document, source: Path) -> tuple[str, ...]:
    """A located warning for each model name (models, fallback) that batchgen does not know."""
    known = known_models()
    notes = [
        Problem(path, note, anchor)
        for path, name, anchor in _model_names(values)
        if (note := model_note(name, known)) is not None
    ]
    located = sorted({(document.locate(note), note.text()) for note in notes})
    return tuple(f"{source}:{line}:{column}: {text}" for (line, column), text in located)


def _model_names(values: dict[str, Any]) -> Iterator[tuple[KeyPath, str, Any]]:
    """Model names as written; shapes that are errors are skipped (warnings come with errors)."""
    models = values.get("models")
    if isinstance(models, str):
        yield ("models",), models, "value"
    elif isinstance(models, list):
        yield from (
            (("models", i), name, "value") for i, name in enumerate(models) if isinstance(name, str)
        )
    # fallback keys are names from models (checked as errors); their targets are new names
    fallback = values.get("fallback", {})
    if isinstance(fallback, dict):
        for model, target in fallback.items():
            if isinstance(target, str):
                yield ("fallback", model), target, "value"
