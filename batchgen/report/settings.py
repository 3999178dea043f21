"""A run's recorded settings as rows people read: nested keys flattened ('limits.concurrency'),
and the differences between runs (pure)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """{'limits': {'concurrency': 4}} -> {'limits.concurrency': '4'}; lists as JSON."""
    flat: dict[str, str] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = _text(value)
    return flat


def _text(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def settings_rows(runs: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    """One row per setting, a column per run ('–' where a run has no such setting)."""
    flat = [flatten(settings) for settings in runs]
    keys = sorted({key for one in flat for key in one})
    return [(key, *(one.get(key, "–") for one in flat)) for key in keys]


def settings_diff(
    a: Mapping[str, Any] | None, b: Mapping[str, Any] | None
) -> list[tuple[str, str, str]]:
    """(setting, A, B) for every setting that differs; none when either run has no record."""
    if a is None or b is None:
        return []
    rows = settings_rows([a, b])
    return [(key, left, right) for key, left, right in rows if left != right]
