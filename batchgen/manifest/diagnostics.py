"""Manifest notes that are not errors (a model name batchgen does not know), and the source line
with a caret under each located message, the way a compiler shows it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from batchgen import catalog
from batchgen.manifest.sources import Document, KeyPath, Problem, show
from batchgen.redact import mask_secret_looking

# A YAML token from its first column: a quoted string, or plain text up to a separator.
_TOKEN = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|(?:[^\s,\[\]{}#:]|:(?!\s|$))+""")


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
    models = values.get("models")
    if isinstance(models, str):
        yield ("models",), models, "value"
    elif isinstance(models, list):
        yield from ((("models", i), name, "value") for i, name in enumerate(models))
    # fallback keys are names from models (checked as errors); their targets are new names
    for model, target in values.get("fallback", {}).items():
        yield ("fallback", model), target, "value"


def excerpt(lines: Sequence[str], line: int, column: int) -> list[str]:
    """The source line and a marker under the token at `column`: '  9 | x: 1' / '    |    ^'."""
    if not 1 <= line <= len(lines):
        return []
    text = lines[line - 1].rstrip("\r\n")
    match = _TOKEN.match(text, column - 1)
    width = max(len(match[0]) if match else 1, 1)
    gutter = " " * len(str(line))
    return [f"  {line} | {text}", f"  {gutter} | {' ' * (column - 1)}^{'~' * (width - 1)}"]


def with_excerpts(messages: Sequence[str], source: Path, label: str) -> Iterator[str]:
    """Each `file:line:col: message` as `label: ...`, followed by the excerpt it points at."""
    try:
        lines = source.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    where = re.compile(re.escape(str(source)) + r":(\d+):(\d+): ")
    for message in messages:
        yield mask_secret_looking(f"{label}: {message}")
        match = where.match(message)
        if match:
            for line in excerpt(lines, int(match[1]), int(match[2])):
                yield mask_secret_looking(line, source_line=True)
