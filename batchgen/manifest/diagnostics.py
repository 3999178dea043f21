"""Manifest notes that are not errors: a model name batchgen does not know, located at its key
with the closest known name. Showing them (source excerpts) is manifest/excerpts.py's job.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from batchgen import catalog
from batchgen.manifest.sources import Document, KeyPath, Problem, show


def known_models() -> list[str]:
    """Every model name the catalog knows, on any provider: the one list suggestions read."""
    return [name for model in catalog.MODELS for name in model.names]


def model_note(name: str, known: Sequence[str]) -> str | None:
    """Why `name` looks wrong, with the closest known name; None when it is known."""
    if name in known:
        return None
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"unknown model {show(name)}; did you mean {close[0]!r}? (sent as written otherwise)"
    return (
        f"unknown model {show(name)}; expected one of {', '.join(known)} "
        "(other names are sent as written, with no price known)"
    )


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
