"""Near misses, said in the message that finds them: a placeholder and the var it was meant to be
(`{colour}` and `color`), a file that is not there and its neighbour (`product.csv` and
`products.csv`), a repeated message folded into one ("and 199 more like it")."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

CUTOFF = 0.75  # difflib's ratio: colour/color 0.91, product/products 0.93, size/style 0.67
MAX_FOLDER_ENTRIES = 2000  # a huge folder is not searched for a near name


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate nearest to `name`, if one is near enough to be a typo of it."""
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=CUTOFF)
    return found[0] if found else None


def placeholder_hint(placeholder: str, unused_vars: Sequence[str]) -> str:
    """For a placeholder with no var: the var it likely meant (among those no placeholder
    uses), as a sentence to put before the rest of the message; '' when none is near."""
    near = closest(placeholder, unused_vars)
    return f"did you mean {{{near}}} (the var {near!r})? " if near else ""


def var_hint(var: str, unmatched_placeholders: Sequence[str]) -> str:
    """For a var no placeholder uses: the placeholder that likely meant it; '' when none."""
    near = closest(var, unmatched_placeholders)
    return f"did you mean it for the placeholder {{{near}}}? " if near else ""


def file_hint(missing: Path) -> str:
    """For a file that does not exist: a file of a near name in the same folder, as
    'did you mean products.csv? '; '' when there is none (or the folder cannot be read)."""
    try:
        entries = []
        for entry in missing.parent.iterdir():
            entries.append(entry.name)
            if len(entries) > MAX_FOLDER_ENTRIES:
                return ""
    except OSError:
        return ""
    near = closest(missing.name, [name for name in entries if name != missing.name])
    return f"did you mean {near}? " if near else ""


# --- folding repeats ---------------------------------------------------------------------

_LOCATION = re.compile(r"^(?P<file>.*?):(?P<line>\d+):(?P<col>\d+): ")
_NAMED = re.compile(r"\{[^{}\s]+\}|'[^']*'|\"[^\"]*\"")
_VARIABLE = re.compile(r"'[^']*'|\"[^\"]*\"|\d+(?:\.\d+)?")


@dataclass(frozen=True, slots=True)
class Folded:
    """A message shown in full, and how many more like it were folded under it (their lines)."""

    message: str
    more_lines: tuple[int, ...] = ()

    @property
    def more(self) -> int:
        return len(self.more_lines)

    def tail(self, shown_lines: int = 8) -> str | None:
        """'... and 199 more like it (lines 12, 14, 16, ...)', or None when nothing was folded."""
        if not self.more:
            return None
        lines = ", ".join(str(n) for n in self.more_lines[:shown_lines])
        if self.more > shown_lines:
            lines += ", ..."
        return f"... and {self.more} more like it (line{'s' if self.more > 1 else ''} {lines})"


def shape(message: str) -> str:
    """What stays of a message when its location, numbers, quoted values and placeholder names
    (wherever else they recur) are taken out: `prompts[7]: prompt is 612 characters` and
    `prompts[9]: prompt is 700 characters` agree, as do `placeholder {a} has no var; add a`
    and `placeholder {b} has no var; add b`."""
    text = _LOCATION.sub("", message)
    names = {m.strip("'\"{}") for m in _NAMED.findall(text)} - {""}
    if names:
        words = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        text = re.sub(rf"(?<![\w.-])(?:{words})(?![\w-])", "#", text)
    return _VARIABLE.sub("#", text)


def fold(messages: Sequence[str]) -> list[Folded]:
    """Messages of one shape become the first of them plus a count, in first-seen order."""
    groups: dict[str, list[str]] = {}
    for message in dict.fromkeys(messages):  # the same message twice is one
        groups.setdefault(shape(message), []).append(message)
    return [Folded(first, tuple(_line(m) for m in rest)) for first, *rest in groups.values()]


def _line(message: str) -> int:
    match = _LOCATION.match(message)
    return int(match["line"]) if match else 0
