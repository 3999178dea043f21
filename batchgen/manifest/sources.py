"""What a manifest is read from: YAML text (every value and key located) and the CSV files it names.

Only the safe loader's composer runs: nothing is constructed from tags, so `!!python/...` is a
located problem, never code. Aliases are followed under a node cap (alias bombs).
"""

from __future__ import annotations

import csv
import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from batchgen.errors import ManifestError
from batchgen.manifest import suggest

MAX_MANIFEST_BYTES = 4 * 2**20
MAX_NODES = 100_000
MAX_DEPTH = 64
KeyPath = tuple[str | int, ...]  # ("prompts", 1, "vars", "style")
Location = tuple[int, int]  # 1-based line, column
Anchor = Literal["value", "key", "parent"]  # what a problem points at

_TAG = "tag:yaml.org,2002:"
_SCALARS = {_TAG + kind for kind in ("str", "int", "float", "bool", "null")}
_NUMBERS = {_TAG + "int", _TAG + "float"}
_KINDS = {"int": "an integer", "float": "a number", "bool": "a boolean", "null": "null"}
_TOO_BIG = f"the manifest is over {MAX_MANIFEST_BYTES // 2**20} MB; put long lists in CSV files"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a manifest, anchored at a value, its key, or its parent mapping."""

    path: KeyPath
    message: str
    anchor: Anchor = "value"
    at: Location | None = None  # overrides the anchor when the path cannot say where

    def text(self) -> str:
        where = dotted(self.path if self.anchor == "value" else self.path[:-1])
        return f"{where}: {self.message}" if where else self.message


def dotted(path: KeyPath) -> str:
    """('prompts', 1, 'vars', 'x') -> 'prompts[1].vars.x'; odd keys get brackets."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


def show(value: Any) -> str:
    """A value as the user wrote it, cut short: 'x', 3, true, null."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        text = "a very large number"
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(slots=True)
class Document:
    """What the YAML held (None if it could not be read) and where each part of it sits."""

    value: Any = None
    value_at: dict[KeyPath, Location] = field(default_factory=dict)
    key_at: dict[KeyPath, Location] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    broken: set[KeyPath] = field(default_factory=set)  # values that could not be read (now None)

    def locate(self, problem: Problem) -> Location:
        if problem.at is not None:
            return problem.at
        if problem.anchor == "key" and problem.path in self.key_at:
            return self.key_at[problem.path]
        path = problem.path[:-1] if problem.anchor == "parent" else problem.path
        while path and path not in self.value_at:
            path = path[:-1]
        return self.value_at.get(path, (1, 1))

    def messages(self, source: Path) -> list[str]:
        """Each problem once as `file:line:col: text`, in file order."""
        located = sorted({(self.locate(problem), problem.text()) for problem in self.problems})
        return [f"{source}:{line}:{column}: {text}" for (line, column), text in located]


class _TooComplex(Exception):
    """The node tree is too big or too deep to be a manifest."""

    def __init__(self, message: str, node: Node) -> None:
        super().__init__(message)
        self.problem = Problem((), message, at=_location(node.start_mark))


def read_text(file: Path) -> str:
    """A manifest file's text; ManifestError if it is unreadable, too big or not UTF-8."""
    try:
        with file.open("rb") as stream:
            data = stream.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise ManifestError([f"{file}: cannot read the manifest: {exc.strerror or exc}"]) from exc
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError([f"{file}: {_TOO_BIG}"])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        byte = data[exc.start]
        message = f"{file}:{line}:{column}: not UTF-8 text (byte 0x{byte:02x}); save it as UTF-8"
        raise ManifestError([message]) from exc


def read_yaml(text: str) -> Document:
    """Parse one YAML document; problems are collected in the result, never raised."""
    document = Document()
    if len(text) > MAX_MANIFEST_BYTES:
        document.problems.append(Problem((), _TOO_BIG, at=(1, 1)))
        return document
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        document.problems.append(_syntax(exc))
    except yaml.reader.ReaderError as exc:
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        message = f"YAML syntax: character U+{code:04X} is not allowed ({exc.reason})"
        document.problems.append(Problem((), message, at=_offset(text, exc.position)))
    except RecursionError:
        document.problems.append(Problem((), "YAML nested too deeply", at=(1, 1)))
    else:
        if node is not None:
            _walk_into(document, node)
    return document


def _compose(text: str) -> Node | None:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_node() if loader.check_node() else None
        second = loader.get_node() if loader.check_node() else None
        if second is not None:
            raise yaml.composer.ComposerError(
                problem="a manifest is one YAML document; a second one starts here",
                problem_mark=second.start_mark,
            )
        return node
    finally:
        loader.dispose()


def _syntax(exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    message = f"YAML syntax: {exc.problem}"
    if exc.context and exc.context_mark:
        message += f" ({exc.context} on line {exc.context_mark.line + 1})"
    return Problem((), message, at=_location(mark) if mark else (1, 1))


def _walk_into(document: Document, node: Node) -> None:
    try:
        document.value = _Walker(document).walk(node, (), 0)
    except _TooComplex as exc:
        document.value = None
        document.problems.append(exc.problem)


def _location(mark: yaml.Mark) -> Location:
    return mark.line + 1, mark.column + 1


def _offset(text: str, position: int) -> Location:
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


class _Walker:
    """Builds plain values from nodes, recording locations and problems as it goes."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self.count = 0
        self.constructor = SafeConstructor()

    def walk(self, node: Node, path: KeyPath, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooComplex(f"too many nodes (alias expansion?); at most {MAX_NODES}", node)
        if depth > MAX_DEPTH:
            raise _TooComplex(f"nested more than {MAX_DEPTH} levels deep", node)
        self.document.value_at[path] = _location(node.start_mark)
        if isinstance(node, MappingNode) and node.tag == _TAG + "map":
            return self.mapping(node, path, depth)
        if isinstance(node, SequenceNode) and node.tag == _TAG + "seq":
            return [self.walk(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, ScalarNode) and node.tag in _SCALARS:
            return self.scalar(node, path)
        if isinstance(node, ScalarNode) and node.tag == _TAG + "timestamp":
            return node.value  # a date is just text to a manifest
        self.problem(
            path,
            f"unsupported YAML tag {_short_tag(node.tag)}; "
            "expected plain text, numbers, true/false, lists and mappings",
            node,
        )
        return None

    def mapping(self, node: MappingNode, path: KeyPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.key(key_node, path)
            if key is None:
                continue
            where = path + (key,)
            if key in result:
                line = self.document.key_at[where][0]
                self.key_problem(where, f"duplicate key {key!r} (first on line {line})", key_node)
                continue
            self.document.key_at[where] = _location(key_node.start_mark)
            result[key] = self.walk(value_node, where, depth + 1)
        return result

    def key(self, node: Node, path: KeyPath) -> str | None:
        if isinstance(node, ScalarNode) and node.tag == _TAG + "str":
            return str(node.value)
        where = (*path, str(node.value) if isinstance(node, ScalarNode) else "?")
        if node.tag == _TAG + "merge":
            self.key_problem(where, "merge keys ('<<') are not supported; write the keys out", node)
        elif isinstance(node, ScalarNode) and node.tag[len(_TAG) :] in _KINDS:
            kind = _KINDS[node.tag[len(_TAG) :]]
            self.key_problem(where, f"key {node.value!r} is read as {kind}; quote it", node)
        else:
            self.key_problem(where, f"keys must be text, got {_short_tag(node.tag)}", node)
        return None

    def scalar(self, node: ScalarNode, path: KeyPath) -> Any:
        if node.tag in _NUMBERS and ":" in node.value:
            return node.value  # YAML 1.1 reads 16:9 as the number 969; a manifest means the text
        try:
            return self.constructor.construct_object(node)
        except Exception:  # PyYAML's scalar constructors raise KeyError, IndexError, ...
            self.problem(path, f"cannot read {show(node.value)} as {_short_tag(node.tag)}", node)
            return None

    def problem(self, path: KeyPath, message: str, node: Node) -> None:
        self.document.broken.add(path)
        self.document.problems.append(Problem(path, message, at=_location(node.start_mark)))

    def key_problem(self, path: KeyPath, message: str, node: Node) -> None:
        self.document.problems.append(Problem(path, message, "key", _location(node.start_mark)))


class CsvProblem(Exception):
    """A CSV file or column that gives no values; `key` says where to point: csv or column."""

    def __init__(self, key: Literal["csv", "column"], message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def read_csv(file: Path) -> list[list[str]]:
    """All rows of a UTF-8 CSV file (a BOM is fine)."""
    try:
        with file.open(encoding="utf-8-sig", newline="") as stream:
            return list(csv.reader(stream))
    except (OSError, ValueError, csv.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        expected = "expected a UTF-8 CSV file (paths are relative to the manifest's directory)"
        hint = suggest.file_hint(file) if isinstance(exc, FileNotFoundError) else ""
        raise CsvProblem("csv", f"cannot read {file}: {reason}; {hint}{expected}") from exc


def column_values(rows: list[list[str]], column: str, file: Path) -> tuple[str, ...]:
    """The distinct non-empty cells of one column, in file order; the first row names columns."""
    header = [cell.strip() for cell in rows[0]] if rows else []
    if column not in header:
        close = difflib.get_close_matches(column, header, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        columns = "one of " + ", ".join(header) if header else "a header row (the file is empty)"
        raise CsvProblem("column", f"no column {column!r} in {file}; {hint}expected {columns}")
    at = header.index(column)
    cells = (row[at].strip() for row in rows[1:] if len(row) > at)
    values = tuple(dict.fromkeys(cell for cell in cells if cell))
    if not values:
        message = f"column {column!r} of {file} has no values; expected at least one"
        raise CsvProblem("column", message)
    return values
