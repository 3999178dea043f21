"""Output paths that no filesystem can hold, found before anything is paid: a NUL, or a path
segment longer than 255 bytes with every placeholder at its longest (pure)."""

from __future__ import annotations

import re
from string import Formatter

from batchgen.expand import SLUG_LENGTH

MAX_SEGMENT_BYTES = 255  # NAME_MAX on Linux, macOS and Windows filesystems
NAME_LENGTH = 100  # the manifest's name pattern caps it
# The longest each built-in placeholder can be (the values are ASCII, so characters are bytes).
FIELD_BYTES = {
    "model": 100,
    "aspect": 4,
    "prompt_slug": SLUG_LENGTH,
    "task_id": 16,
    "task_shard": 2,
    "index": 1,
    "ext": 4,
    "seed": 10,
    "name": NAME_LENGTH,
    "resolution": 2,
}
VAR_MIN_BYTES = 1  # a prompt variable's value is known only per row: counted at its shortest
_SEPARATORS = re.compile(r"[/\\]")


def path_problems(template: str) -> list[str]:
    """What makes `template` impossible as a path, whatever the tasks are."""
    if "\x00" in template:
        return ["contains a NUL character, which no file name can hold"]
    problems = []
    for segment in _SEPARATORS.split(template):
        longest = _longest_bytes(segment)
        if longest is not None and longest > MAX_SEGMENT_BYTES:
            problems.append(
                f"the path part {segment[:40]!r}… can be {longest} bytes long, over the "
                f"{MAX_SEGMENT_BYTES} bytes a file or folder name may have"
            )
    return problems


def _longest_bytes(segment: str) -> int | None:
    try:
        parsed = list(Formatter().parse(segment))
    except ValueError:
        return None  # reported by the placeholder check
    total = 0
    for literal, name, _, _ in parsed:
        total += len(literal.encode("utf-8", "surrogatepass"))
        if name is not None:
            total += FIELD_BYTES.get(name, VAR_MIN_BYTES)
    return total


def unencodable(value: object, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Where a string holds a lone surrogate ("\\ud800" in YAML): text no API, file or report
    can carry, so it is refused where it is written rather than after paying."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return [path]
        return []
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in unencodable(item, (*path, key))]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in unencodable(item, (*path, i))]
    return []
