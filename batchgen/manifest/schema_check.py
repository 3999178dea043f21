"""The small validator of the JSON Schema subset the manifest schema uses (schema.py).

It reads the very dict `batchgen schema` prints, so structure checks and the published schema
cannot disagree; every problem it finds carries its key path, for a located message.
"""

from __future__ import annotations

import difflib
import json
import math
import operator
import re
from collections.abc import Callable
from typing import Any

from batchgen.manifest.sources import KeyPath, Problem, dotted, show

Schema = dict[str, Any]


def validate(value: Any, schema: Schema, path: KeyPath = ()) -> list[Problem]:
    """Every way `value` breaks `schema` (the subset of JSON Schema used above)."""
    if "not" in schema:
        if validate(value, schema["not"], path):
            return []
        return [Problem(path, schema.get("x-message", f"must not be {describe(schema['not'])}"))]
    if "anyOf" in schema:
        return _any_of(value, schema, path)
    if not _fits(value, schema):
        return [Problem(path, f"must be {describe(schema)}, got {show(value)}")]
    if "enum" in schema and value not in schema["enum"]:
        hint = did_you_mean(value, schema["enum"])
        return [Problem(path, f"{show(value)} is not allowed; {hint}expected {describe(schema)}")]
    if isinstance(value, dict):
        return _object(value, schema, path)
    if isinstance(value, list):
        return _array(value, schema, path)
    return []


def describe(schema: Schema) -> str:
    """What a schema allows, in words: 'an integer from 1 to 4', 'one of 1:1, 3:4'."""
    if "x-expected" in schema:
        return str(schema["x-expected"])
    if "anyOf" in schema:
        return " or ".join(describe(branch) for branch in schema["anyOf"])
    if "const" in schema:
        return show(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    return " or ".join(_describe_type(kind, schema) for kind in _types(schema)) or "anything"


def _describe_type(kind: str, schema: Schema) -> str:
    if kind == "string":
        return "a non-empty string" if schema.get("minLength", 0) > 0 else "a string"
    if kind not in ("integer", "number"):
        return _NAMES.get(kind, kind)
    words = "an integer" if kind == "integer" else "a number"
    if "minimum" in schema and "maximum" in schema:
        return f"{words} from {schema['minimum']} to {schema['maximum']}"
    bounds = [f"{sign} {schema[key]}" for key, sign in _SIGNS.items() if key in schema]
    return " ".join([words, *bounds])


_NAMES = {"object": "a mapping", "array": "a list", "boolean": "true or false"}
_SIGNS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<="}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "minimum": operator.ge,
    "exclusiveMinimum": operator.gt,
    "maximum": operator.le,
}


def _types(schema: Schema) -> list[str]:
    kinds = schema.get("type", [])
    return [kinds] if isinstance(kinds, str) else list(kinds)


def _is(value: Any, kind: str) -> bool:
    if kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False  # stricter than JSON Schema: inf and nan are never wanted
        return kind == "number" or isinstance(value, int) or value.is_integer()
    python = {"string": str, "object": dict, "array": list, "boolean": bool, "null": type(None)}
    return isinstance(value, python[kind])


def _fits(value: Any, schema: Schema) -> bool:
    """Type, bounds, lengths, pattern and size: the checks that make one 'must be' problem."""
    kinds = _types(schema)
    if kinds and not any(_is(value, kind) for kind in kinds):
        return False
    if "const" in schema and value != schema["const"]:
        return False
    if _is(value, "number"):
        return all(check(value, schema[key]) for key, check in _COMPARE.items() if key in schema)
    if isinstance(value, str):
        return int(schema.get("minLength", 0)) <= len(value) <= schema.get(
            "maxLength", math.inf
        ) and ("pattern" not in schema or _matches(schema["pattern"], value))
    if isinstance(value, list):
        return len(value) >= int(schema.get("minItems", 0))
    return True


def _matches(pattern: str, value: str) -> bool:
    # JSON Schema patterns are ECMA 262, where '$' means the very end (Python also allows a '\n')
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.search(pattern, value) is not None


def _any_of(value: Any, schema: Schema, path: KeyPath) -> list[Problem]:
    results = [validate(value, branch, path) for branch in schema["anyOf"]]
    if any(not problems for problems in results):
        return []
    # report inside the one branch of the value's kind (a list's bad item, say), if there is one
    kind = _kind(value)
    near = [
        problems
        for branch, problems in zip(schema["anyOf"], results, strict=True)
        if kind in {_kind_name(t) for t in _types(branch)}
    ]
    if len(near) == 1:
        return near[0]
    return [Problem(path, f"must be {describe(schema)}, got {show(value)}")]


def _kind(value: Any) -> str:
    return next(
        (
            kind
            for kind in ("boolean", "number", "string", "object", "array", "null")
            if _is(value, kind)
        ),
        "number",
    )


def _kind_name(kind: str) -> str:
    return "number" if kind == "integer" else kind


def _object(value: dict[str, Any], schema: Schema, path: KeyPath) -> list[Problem]:
    problems = [
        Problem((*path, key), f"missing required key {key!r}", "parent")
        for key in schema.get("required", ())
        if key not in value
    ]
    known = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    names = schema.get("propertyNames")
    for key, item in value.items():
        where = (*path, key)
        if names is not None and not _fits(key, names):
            problems.append(Problem(where, f"{key!r} is not {describe(names)}", "key"))
        if key in known:
            problems += validate(item, known[key], where)
        elif extra is False:
            problems.append(_unknown(key, known, where))
        elif isinstance(extra, dict):
            problems += validate(item, extra, where)
    for rule in schema.get("allOf", ()):
        if not validate(value, rule["if"], path):
            problems += validate(value, rule["then"], path)
    return problems


def did_you_mean(value: Any, choices: list[Any], cutoff: float = 0.75) -> str:
    """'did you mean 'aimlapi'? ' for a near miss of a text choice, else ''."""
    if not isinstance(value, str):
        return ""
    texts = [choice for choice in choices if isinstance(choice, str)]
    close = difflib.get_close_matches(value, texts, n=1, cutoff=cutoff)
    return f"did you mean {close[0]!r}? " if close else ""


def _unknown(key: str, known: dict[str, Schema], where: KeyPath) -> Problem:
    allowed = [name for name, sub in known.items() if "not" not in sub]
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"did you mean {close[0]!r}?" if close else "expected one of " + ", ".join(allowed)
    return Problem(where, f"unknown key {key!r}; {hint}", "key")


def _array(value: list[Any], schema: Schema, path: KeyPath) -> list[Problem]:
    problems: list[Problem] = []
    if schema.get("uniqueItems"):
        first: dict[Any, int] = {}
        for index, item in enumerate(value):
            earlier = first.setdefault(_identity(item), index)
            if earlier != index:
                problems.append(
                    Problem(
                        (*path, index),
                        f"duplicate of {dotted((*path, earlier))}, "
                        f"got {show(item)}; expected each value once",
                    )
                )
    if "items" in schema:
        for index, item in enumerate(value):
            problems += validate(item, schema["items"], (*path, index))
    return problems


def _identity(item: Any) -> Any:
    """JSON equality as a dict key: 1 == 1.0 but true != 1."""
    if isinstance(item, (dict, list)):
        return json.dumps(item, sort_keys=True, default=str)
    return (isinstance(item, bool), item)
