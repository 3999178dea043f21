"""Located messages shown the way a compiler shows them: each `file:line:col: message` followed
by its source line and a caret under the token. Terminal display, used by the CLI only; the
manifest's checks produce located messages and never format excerpts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from batchgen.redact import mask_secret_looking

# A YAML token from its first column: a quoted string, or plain text up to a separator.
_TOKEN = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|(?:[^\s,\[\]{}#:]|:(?!\s|$))+""")


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
