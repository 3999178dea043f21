"""The AI/ML API wire format: POST /v1/images/generations, both response shapes, its errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from batchgen import catalog
from batchgen.errors import (
    AuthError,
    ModelRetired,
    ProviderError,
    RateLimited,
    Rejected,
    ServerError,
)
from batchgen.models import Generation, ImageRef, Task, Usage
from batchgen.providers.http import HttpProvider, call, keyless, redacted
from batchgen.providers.wire import body_text, json_object, maybe_json, shorten, string
from batchgen.retry import parse_retry_after

DEFAULT_BASE_URL = "https://api.aimlapi.com"
DEFAULT_KEY_ENV = "AIMLAPI_API_KEY"
PATH = "/v1/images/generations"
VALIDATION_PREFIX = "Body validation error"  # 400s about the body's shape, not its prompt


class AimlapiProvider(HttpProvider):
    kind = "aimlapi"

    def __init__(
        self, session: aiohttp.ClientSession, *, base_url: str, api_key: str | None
    ) -> None:
        super().__init__(session, base_url=base_url, api_key=api_key)
        self._url = self._base_url + PATH

    async def generate(self, task: Task, *, model: str) -> Generation:
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        answer = await call(
            self._session, "POST", self._url, headers=headers, json=request_body(task, model)
        )
        if answer.status not in (200, 201):
            error = error_for(answer.status, answer.body, answer.headers.get("Retry-After"))
            raise redacted(error, self._api_key)
        return keyless(parse_generation(answer.body, model=model))


def request_body(task: Task, model: str) -> dict[str, Any]:
    """A model named another provider's way (imagen-4.0-fast-generate-001,
    fal-ai/imagen4/preview/fast) is sent under the AI/ML API's own id."""
    body: dict[str, Any] = dict(task.params)
    body.update(
        model=catalog.wire_model("aimlapi", model),
        prompt=task.prompt,
        num_images=task.num_images,
        aspect_ratio=task.aspect_ratio,
    )
    if task.seed is not None:
        body["seed"] = task.seed
    return body


def error_for(status: int, body: bytes, retry_after: str | None) -> ProviderError:
    """Classify by status (never by message text); keep the provider's message for the report."""
    message = f"HTTP {status}: {_message(body)}"
    if status == 429:
        return RateLimited(message, status=status, retry_after=parse_retry_after(retry_after))
    if status in (401, 403):
        return AuthError(message, status=status)
    if status == 404:
        return ModelRetired(message, status=status)
    if status == 408 or status >= 500:
        return ServerError(message, status=status, retry_after=parse_retry_after(retry_after))
    if status == 400 and _message(body).startswith(VALIDATION_PREFIX):
        return Rejected(message, status=status, about_request=True)  # the documented refusal
    return Rejected(message, status=status)


def _message(body: bytes) -> str:
    data = maybe_json(body)
    if data is None:
        return body_text(body)
    if isinstance(data, Mapping):
        for key in ("message", "error", "detail"):
            value = data.get(key)
            if isinstance(value, Mapping):
                value = value.get("message")
            if value:
                return shorten(str(value))
    return shorten(str(data))


def parse_generation(body: bytes, *, model: str) -> Generation:
    """Shape A: data[] with url or b64_json and meta.usage; shape B (Preview): images[] and seed."""
    data = json_object(body)
    items = data.get("data")
    if isinstance(items, list):
        refs = [_ref_from_data(i, item) for i, item in enumerate(items)]
    elif isinstance(data.get("images"), list):
        refs = [_ref_from_images(i, item) for i, item in enumerate(data["images"])]
    else:
        raise ServerError("answer has neither 'data' nor 'images'")
    if not refs:
        raise Rejected("the provider returned no images (filtered?)")
    seed = data.get("seed")
    return Generation(
        images=tuple(refs),
        model=model,  # what we asked for: the report groups by it, whatever alias comes back
        usage=_usage(data.get("meta")),
        seed=seed if isinstance(seed, int) else None,
    )


def _ref_from_data(index: int, item: object) -> ImageRef:
    if not isinstance(item, Mapping):
        raise ServerError(f"data[{index}] is not an object")
    url, b64 = string(item.get("url")), string(item.get("b64_json"))
    if url is None and b64 is None:
        raise ServerError(f"data[{index}] has neither url nor b64_json")
    return ImageRef(index=index, url=url, b64=b64, mime_type=string(item.get("mime_type")))


def _ref_from_images(index: int, item: object) -> ImageRef:
    if not isinstance(item, Mapping) or not isinstance(item.get("url"), str):
        raise ServerError(f"images[{index}] has no url")
    return ImageRef(index=index, url=item["url"], mime_type=string(item.get("content_type")))


def _usage(meta: object) -> Usage:
    """meta.usage.{credits_used|tokens_used|usd_spent}; some docs put tokens_used on meta itself."""
    if not isinstance(meta, Mapping):
        return Usage()
    usage = meta.get("usage")
    source = usage if isinstance(usage, Mapping) else meta
    credits = _number(source.get("credits_used"))
    if credits is None:
        credits = _number(source.get("tokens_used"))
    return Usage(credits=credits, usd=_number(source.get("usd_spent")))


def _number(value: object) -> float | None:
    """A usage figure as the provider reported it, or None when it is not a number. A NaN,
    infinite or negative amount is passed on: pricing.charge counts it at the table's price
    and flags it, so the report says the provider misreported."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
