"""Reading JSON answers defensively: every provider parses with these, so odd shapes fail alike."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from batchgen.errors import ServerError
from batchgen.redact import clip

MESSAGE_LIMIT = 300


def json_object(body: bytes) -> Mapping[str, Any]:
    """The answer as a JSON object; a ServerError (retryable) when it is anything else."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ServerError(
            f"answer is not JSON: {shorten(body[:4096].decode('utf-8', 'replace'), limit=200)}"
        ) from exc
    if not isinstance(data, Mapping):
        raise ServerError("answer is not a JSON object")
    return data


def maybe_json(body: bytes) -> object:
    """An error body decoded if it is JSON, else None."""
    try:
        return json.loads(body)
    except ValueError:
        return None


def shorten(text: str, *, limit: int = MESSAGE_LIMIT) -> str:
    """One line of at most `limit` characters, secrets masked before the cut."""
    return clip(" ".join(text.split()), limit)


def body_text(body: bytes) -> str:
    return shorten(body.decode("utf-8", "replace")) or "(empty body)"


def string(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def items(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
