"""Any OpenAI-compatible POST {base}/images/generations (providers.md 3): n, size from the aspect
ratio, base64 or URL answers, x-ratelimit-* pacing hints and retry-after-ms / retry-after.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from batchgen import catalog
from batchgen.errors import (
    AuthError,
    ModelRetired,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    Rejected,
    ServerError,
)
from batchgen.models import Generation, ImageRef, OutputConfig, Task
from batchgen.providers.http import HttpProvider, call, keyless, redacted
from batchgen.providers.wire import (
    body_text,
    items,
    json_object,
    mapping,
    maybe_json,
    shorten,
    string,
)
from batchgen.retry import parse_reset, parse_retry_after

DEFAULT_BASE_URL = "https://api.openai.com/v1"
KEY_ENVS = ("OPENAI_API_KEY",)
PATH = "/images/generations"
# 429s that no wait will fix: the account is out of money, not over a rate.
_QUOTA_CODES = ("insufficient_quota", "billing_hard_limit_reached")
_LIMITS = ("requests", "tokens")
# "Rate limit reached for requests in organization ...": the org's own limit, not a busy model
_OWN_LIMIT_CODES = ("rate_limit_exceeded",)

# What the GPT image models can send themselves (output_format; output_compression 0..100).
MODEL_FORMATS = ("jpeg", "webp")


@dataclass(frozen=True, slots=True)
class FileFormat:
    """The file format the run writes, asked of the GPT image models so that nothing is
    converted on this side: `output_format`, with `output.quality` as `output_compression`."""

    format: str  # one of MODEL_FORMATS
    compression: int  # 0..100

    @classmethod
    def wanted(cls, output: OutputConfig) -> FileFormat | None:
        """The format to ask for: output.format when it is JPEG or WebP (PNG is what the
        models send unasked); None otherwise."""
        if output.format not in MODEL_FORMATS:
            return None
        return cls(output.format, output.quality)

    def fields(self, task: Task, model: str) -> dict[str, Any]:
        """The request's fields: none for a model batchgen does not know as a GPT image model
        (a gateway may refuse them), or when params already choose the format."""
        offering = catalog.lookup("openai", model)
        if offering is None or offering.url_output or "output_format" in task.params:
            return {}
        return {"output_format": self.format, "output_compression": self.compression}


class OpenAIProvider(HttpProvider):
    kind = "openai"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str | None,
        file_format: FileFormat | None = None,
    ) -> None:
        super().__init__(session, base_url=base_url, api_key=api_key)
        self._url = self._base_url + PATH
        self.file_format = file_format  # the batch client asks for it too

    async def generate(self, task: Task, *, model: str) -> Generation:
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        answer = await call(
            self._session,
            "POST",
            self._url,
            headers=headers,
            json=request_body(task, model, self.file_format),
        )
        if answer.status != 200:
            raise redacted(error_for(answer.status, answer.body, answer.headers), self._api_key)
        generation = keyless(parse_generation(answer.body, model=model))
        hold = hold_s(answer.headers)
        return generation if hold is None else _with_hold(generation, hold)


def _with_hold(generation: Generation, hold: float) -> Generation:
    return Generation(
        images=generation.images, model=generation.model, usage=generation.usage, hold_s=hold
    )


def request_body(task: Task, model: str, file_format: FileFormat | None = None) -> dict[str, Any]:
    """params go first so batchgen's own fields win; params.size overrides the derived size,
    params.output_format the run's `file_format`."""
    body: dict[str, Any] = dict(task.params)
    if file_format is not None:
        body.update(file_format.fields(task, model))
    body.update(model=catalog.wire_model("openai", model), prompt=task.prompt, n=task.num_images)
    if "size" not in task.params:
        size = size_for(model, task.aspect_ratio, task.resolution)
        if size is not None:
            body["size"] = f"{size[0]}x{size[1]}"
    return body


def size_for(model: str, aspect_ratio: str, resolution: str) -> tuple[int, int] | None:
    """The model's own size for the aspect ratio; for models batchgen does not know, Imagen's
    pixels (a gateway in front of Imagen or gpt-image-2 takes them as they are)."""
    offering = catalog.lookup("openai", model)
    if offering is not None:
        return offering.size(aspect_ratio, resolution)
    table = catalog.IMAGEN_2K if resolution == "2K" else catalog.IMAGEN_1K
    return table.get(aspect_ratio)


def parse_generation(body: bytes, *, model: str) -> Generation:
    data = json_object(body)
    refs = []
    for index, item in enumerate(items(data.get("data"))):
        entry = mapping(item)
        url, b64 = string(entry.get("url")), string(entry.get("b64_json"))
        if url is None and b64 is None:
            raise ServerError(f"data[{index}] has neither url nor b64_json")
        mime = f"image/{data['output_format']}" if string(data.get("output_format")) else None
        refs.append(ImageRef(index=index, url=None if b64 else url, b64=b64, mime_type=mime))
    if not refs:
        raise Rejected("the provider returned no images (filtered?)")
    return Generation(images=tuple(refs), model=model)


def hold_s(headers: Mapping[str, str]) -> float | None:
    """How long to hold new starts: until the reset of any limit whose remaining count is 0."""
    holds = [
        parse_reset(headers.get(f"x-ratelimit-reset-{name}"))
        for name in _LIMITS
        if (headers.get(f"x-ratelimit-remaining-{name}") or "").strip() == "0"
    ]
    known = [hold for hold in holds if hold is not None]
    return max(known) if known else None


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """retry-after-ms, then retry-after (seconds or a date), then the spent limit's reset."""
    try:
        milliseconds = float(headers.get("retry-after-ms", ""))
    except ValueError:
        milliseconds = -1.0
    if milliseconds >= 0:
        return milliseconds / 1000
    seconds = parse_retry_after(headers.get("retry-after"))
    return seconds if seconds is not None else hold_s(headers)


def error_for(status: int, body: bytes, headers: Mapping[str, str]) -> ProviderError:
    """Classify by status and error.code/type (never by message text)."""
    error = mapping(mapping(maybe_json(body)).get("error"))
    code = string(error.get("code")) or string(error.get("type")) or ""
    text = shorten(str(error["message"])) if error.get("message") else body_text(body)
    message = f"HTTP {status}{f' {code}' if code else ''}: {text}"
    if status == 429:
        if code in _QUOTA_CODES:
            return QuotaExhausted(message, status=status)
        own = code in _OWN_LIMIT_CODES or hold_s(headers) is not None
        return RateLimited(
            message, status=status, retry_after=retry_after_s(headers), own_limit=own
        )
    if status in (401, 403):
        return AuthError(message, status=status)
    if status == 404:
        return ModelRetired(message, status=status)
    if status in (408, 409) or status >= 500:
        return ServerError(message, status=status, retry_after=retry_after_s(headers))
    return Rejected(message, status=status)
