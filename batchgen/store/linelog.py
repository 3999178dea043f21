"""Append-only files of JSON lines beside the journal (the paid log, the queue log): each line is
one write(2) to a file opened for appending, so once the call returns a kill of the process
cannot lose it; a line torn by a full disk (or a kill of the machine) is skipped when read."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC


def open_for_append(path: Path) -> int:
    return os.open(path, _APPEND, 0o644)


def line_of(value: Any) -> bytes:
    """`value` as one compact JSON line."""
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


def append_line(fd: int, value: Any) -> None:
    """`value` as one line, in one write (looped: a regular file takes it whole unless the disk
    is full)."""
    data = memoryview(line_of(value))
    while data:
        data = data[os.write(fd, data) :]


def read_lines(path: Path) -> list[Any]:
    """Every line that parses as JSON, in order; none for a file that is not there."""
    try:
        with open(path, "rb") as lines:
            return [value for line in lines if (value := _parsed(line)) is not _TORN]
    except FileNotFoundError:
        return []


_TORN = object()


def _parsed(line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError:  # torn, or not JSON at all
        return _TORN
