"""Manifest v1 as a JSON Schema (draft 2020-12): the single source of truth for structure.

`batchgen schema` prints it, and schema_check.py validates manifests against this same dict,
so the two can never disagree.
"""

from __future__ import annotations

import copy
from typing import Any

from batchgen.manifest.batchmode import BATCH_SCHEMA
from batchgen.models import (
    ASPECT_RATIOS,
    BUDGET_SCOPES,
    EMULATOR_DIALECTS,
    FIT_MODES,
    NOTIFY_EVENTS,
    OUTPUT_FORMATS,
    PROVIDER_KINDS,
    RESOLUTIONS,
    ROW_OVERRIDES,
)

Schema = dict[str, Any]

KEY_IN_FILE = (
    "keys are never read from the manifest; "
    "put the key in an environment variable and name it in api_key_env"
)


def _mapping(properties: Schema, *required: str, **extra: Any) -> Schema:
    """A mapping with exactly these keys (unknown keys are problems)."""
    schema = {"type": "object", "additionalProperties": False, "properties": properties, **extra}
    return {**schema, "required": list(required)} if required else schema


def _text(expected: str) -> Schema:
    return {"type": "string", "pattern": r"\S", "x-expected": expected}


def _forbidden(why: str) -> Schema:
    return {"not": {}, "x-message": why}


def _one_or_many(item: Schema, one: str, many: str) -> Schema:
    array = {"type": "array", "items": item, "minItems": 1, "uniqueItems": True}
    return {"anyOf": [item, {**array, "x-expected": many}], "x-expected": f"{one} or {many}"}


def _number(kind: str = "number", **bounds: int) -> Schema:
    return {"type": kind, **(bounds or {"exclusiveMinimum": 0})}


_SIZE = _mapping(
    {
        "width": _number("integer", minimum=1, maximum=16384),
        "height": _number("integer", minimum=1, maximum=16384),
        "fit": {"enum": list(FIT_MODES), "x-expected": "width, contain or cover"},
    },
    "width",
)
_MODEL = {"type": "string", "pattern": r"^\S+$", "x-expected": "a model id"}
VAR_NAME = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$", "x-expected": "a name"}
_ENV_NAME = {
    "type": "string",
    "pattern": r"^[A-Z_][A-Z0-9_]*$",
    "x-expected": "an environment variable name like AIMLAPI_API_KEY (A-Z, 0-9, _)",
}
_URL = {
    "type": "string",
    "pattern": r"^https?://([A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[^\s?#]*)?$",
    "x-expected": "an http(s) URL: http(s)://host[:port][/path]",
}
EMULATOR_OPTIONS: dict[str, Schema] = {
    "time_scale": _number(minimum=0),
    "rpm": _number(),
    "max_concurrency": _number("integer", minimum=1),
    "image_bytes": {
        "anyOf": [
            {"type": "string", "enum": ["small", "realistic"]},
            # the emulator makes files of 30 KB to 3 MB; other sizes would fail only at run time
            _number("integer", minimum=30_000, maximum=3_000_000),
        ]
    },
    "faults": {"type": "string"},
    "seed": {"type": "integer"},
    "batch_s": _number(minimum=0),
    "batch_expiries": _number("integer", minimum=0),
    "batch_line_error_rate": _number(minimum=0, maximum=1),
}
EMULATOR_ONLY: dict[str, Schema] = {
    **EMULATOR_OPTIONS,
    # the wire format the emulator speaks, so each provider's client can be tried locally
    "dialect": {"type": "string", "enum": list(EMULATOR_DIALECTS)},
}
_NOT_EMULATOR = {
    "required": ["kind"],
    "properties": {"kind": {"enum": [k for k in PROVIDER_KINDS if k != "emulator"]}},
}
_PROVIDER = _mapping(
    {
        "kind": {"type": "string", "enum": list(PROVIDER_KINDS)},
        "base_url": _URL,
        "api_key_env": _ENV_NAME,
        "api_key": _forbidden(KEY_IN_FILE),
        "allow_private_image_hosts": {"type": "boolean"},
        **EMULATOR_ONLY,
    },
    allOf=[
        {
            "if": _NOT_EMULATOR,
            "then": {
                "properties": {
                    key: _forbidden(
                        f"only the built-in emulator takes {key}; remove it or use kind: emulator"
                    )
                    for key in EMULATOR_ONLY
                }
            },
        }
    ],
)
_SET_BY_BATCHGEN = {
    "model": "models",
    "prompt": "prompts",
    "aspect_ratio": "aspect_ratios",
    "num_images": "num_images",
    "seed": "seeds",
}
_PARAMS = {
    "type": "object",
    "properties": {
        **{
            key: _forbidden(f"set by batchgen from {source}; remove it from params")
            for key, source in _SET_BY_BATCHGEN.items()
        },
        "api_key": _forbidden(KEY_IN_FILE),
    },
}
_VAR_VALUES = {
    "anyOf": [
        {
            "type": "array",
            "items": {"type": ["string", "number"]},
            "minItems": 1,
            "uniqueItems": True,
            "x-expected": "a non-empty list of strings or numbers",
        },
        _mapping(
            {"csv": _text("a CSV file path"), "column": _text("a column name")}, "csv", "column"
        ),
    ],
    "x-expected": "a list of values or {csv: FILE, column: NAME}",
}
_COLUMN = _text("a column name")
_ROW_OPTIONS: Schema = {
    "id_column": _COLUMN,
    "columns": _mapping(dict.fromkeys(ROW_OVERRIDES, _COLUMN)),
}
_ROWS = {
    "anyOf": [
        _mapping({"csv": _text("a CSV file path"), **_ROW_OPTIONS}, "csv"),
        _mapping({"jsonl": _text("a JSONL file path"), **_ROW_OPTIONS}, "jsonl"),
        _mapping({"text": _text("a text file path")}, "text"),
    ],
    "x-expected": "{csv: FILE}, {jsonl: FILE} or {text: FILE} (with id_column, columns)",
}
# `template` is required unless `rows` names a text file (each line is then the prompt);
# load.py says so, as the schema subset has no conditional requirement.
_TEMPLATE = _mapping(
    {
        "template": _text("non-empty template text"),
        "vars": {"type": "object", "propertyNames": VAR_NAME, "additionalProperties": _VAR_VALUES},
        "rows": _ROWS,
    },
)
_PROMPT = {
    "anyOf": [_text("non-empty prompt text"), _TEMPLATE],
    "x-expected": "a prompt string or a {template, vars} mapping",
}
_LIMITS = _mapping(
    {
        "concurrency": _number("integer", minimum=1, maximum=10_000),
        "requests_per_minute": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "request_timeout_s": _number(),
        "max_attempts": _number("integer", minimum=1, maximum=100),
    }
)
_NOTIFY = _mapping(
    {
        "webhook_env": _ENV_NAME,
        "command": _text("a shell command"),
        "when": _one_or_many(
            {"type": "string", "enum": list(NOTIFY_EVENTS)},
            "an event",
            "a non-empty list of unique events",
        ),
    }
)
MANIFEST_SCHEMA: Schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "batchgen manifest v1",
    **_mapping(
        {
            "version": {"type": "integer", "const": 1},
            "name": {
                "type": "string",
                # "." and ".." would make out/{name} the output folder's own parent
                "pattern": r"^(?!\.\.?$)[A-Za-z0-9._-]+$",
                "maxLength": 100,
                "x-expected": "letters, digits, '.', '_' or '-' (at most 100 characters), "
                "not '.' or '..'",
            },
            "provider": _PROVIDER,
            "models": _one_or_many(_MODEL, "a model id", "a non-empty list of unique model ids"),
            "fallback": {"type": "object", "propertyNames": _MODEL, "additionalProperties": _MODEL},
            "aspect_ratios": _one_or_many(
                {"type": "string", "enum": list(ASPECT_RATIOS)},
                "an aspect ratio",
                "a non-empty list of unique aspect ratios",
            ),
            "resolution": {"type": "string", "enum": list(RESOLUTIONS)},
            "num_images": _number("integer", minimum=1, maximum=4),
            "seeds": _one_or_many(
                _number("integer", minimum=0, maximum=4_294_967_295),
                "a seed",
                "a non-empty list of unique seeds",
            ),
            "params": _PARAMS,
            "prompts": {
                "type": "array",
                "minItems": 1,
                "items": _PROMPT,
                "x-expected": "a non-empty list of prompts",
            },
            "limits": _LIMITS,
            "budget": _mapping(
                {"max_usd": _number(), "scope": {"type": "string", "enum": list(BUDGET_SCOPES)}},
                "max_usd",
            ),
            "prices": {
                "type": "object",
                "propertyNames": _MODEL,
                "additionalProperties": _number(),
                "x-expected": "a mapping of model id to USD per image",
            },
            "output": _mapping(
                {
                    "dir": _text("a directory"),
                    "filename": _text("a file name"),
                    "sidecar": {"type": "boolean"},
                    "format": {"enum": list(OUTPUT_FORMATS), "x-expected": "png, jpeg or webp"},
                    "quality": _number("integer", minimum=1, maximum=100),
                    "sizes": {
                        "type": "array",
                        "items": _SIZE,
                        "x-expected": "a list of sizes ({width: 400})",
                    },
                    "keep_original": {"type": "boolean"},
                    "public_url": {
                        "type": "string",
                        "pattern": r"^https?://\S+$",
                        "x-expected": "an http(s) URL (https://cdn.example.com/catalog)",
                    },
                }
            ),
            "notify": _NOTIFY,
            "api_key": _forbidden(KEY_IN_FILE),
            **BATCH_SCHEMA,
        },
        "version",
        "models",
        "prompts",
    ),
}


def manifest_schema() -> Schema:
    """A deep copy of MANIFEST_SCHEMA, safe to change (for `batchgen schema`)."""
    return copy.deepcopy(MANIFEST_SCHEMA)
