"""The images table's `variants` column: the files derived from one image, as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from batchgen.models import SavedImage, Variant


def dump(variants: tuple[Variant, ...]) -> str | None:
    """None for an image written as it came (no column value: older readers see nothing)."""
    return json.dumps([asdict(v) for v in variants]) if variants else None


def load(text: str | None) -> tuple[Variant, ...]:
    if not text:
        return ()
    return tuple(Variant(**item) for item in json.loads(text))


def saved_image(row: tuple[Any, ...]) -> SavedImage:
    """An images row (idx, path, bytes, width, height, mime_type, sha256, variants)."""
    index, path, size, width, height, mime_type, sha256, text = row
    return SavedImage(index, path, size, width, height, mime_type, sha256, load(text))
