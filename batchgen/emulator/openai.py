"""The OpenAI dialect: POST /openai/v1/images/generations (providers.md 3), with x-ratelimit-*
headers from the emulator's own start window and OpenAI's error body.
"""

from __future__ import annotations

import asyncio
import base64
import io
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from batchgen.emulator import checks
from batchgen.emulator.faults import common_fault
from batchgen.emulator.lineup import OPENAI, Listing
from batchgen.emulator.state import State, file_urls, guarded, inline_images, state_of

# Custom WxH sizes (openai SDK 3.57 image_generate_params.py `size`): both edges multiples of 16,
# aspect ratio within 1:3..3:1, at most 3840x2160 (edge 3840, 8,294,400 pixels).
SIZE_STEP = 16
MAX_EDGE = 3840
MAX_PIXELS = 3840 * 2160
MAX_RATIO = 3.0
OUTPUT_FORMATS = ("png", "jpeg", "webp")
_PIL_FORMATS = {"jpeg": "JPEG", "webp": "WEBP"}

PATH = "/openai/v1/images/generations"
_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    429: "requests",
    500: "server_error",
    502: "server_error",
    503: "server_error",
    504: "server_error",
}
_CODES = {401: "invalid_api_key", 404: "model_not_found"}
# The 429 OpenAI sends when a model is busy with other users' requests (type server_error, no
# code): not this organization's rate limit, whose x-ratelimit-* still show room.
_MODEL_BUSY = "That model is currently overloaded with other requests. You can retry your request."


def error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    kind = _TYPES.get(status, "invalid_request_error")
    return {
        "error": {
            "message": message,
            "type": kind,
            "param": None,
            "code": code or _CODES.get(status),
        }
    }


def rate_headers(state: State) -> dict[str, str]:
    """x-ratelimit-* for requests, from the emulator's start window (none without an rpm)."""
    headers = {"x-request-id": f"req_{uuid.uuid4().hex}"}
    if state.window is None:
        return headers
    now = state.clock()
    reset_ms = math.ceil(state.window.reset_s(now) * 1000)  # up: never invite an early start
    return headers | {
        "x-ratelimit-limit-requests": str(state.window.capacity),
        "x-ratelimit-remaining-requests": str(state.window.remaining(now)),
        "x-ratelimit-reset-requests": f"{reset_ms}ms",
    }


def _answer(
    request: web.Request, status: int, body: Any, extra: dict[str, str] | None = None
) -> web.Response:
    headers = rate_headers(state_of(request)) | (extra or {})
    return web.json_response(body, status=status, headers=headers)


class _OpenAI:
    def authorized(self, request: web.Request, state: State) -> bool:
        return state.key_is(request.headers.get("Authorization"), "Bearer {}")

    def error(self, request: web.Request, status: int, message: str) -> web.Response:
        if status == 401:
            message = "Incorrect API key provided. You can find your API key in your settings."
        return _answer(request, status, error_body(status, message))

    def rate_limited(self, request: web.Request, wait_s: float) -> web.Response:
        body = error_body(
            429, "Rate limit reached for requests. Please try again later.", "rate_limit_exceeded"
        )
        after = {"retry-after-ms": str(round(wait_s * 1000)), "retry-after": str(math.ceil(wait_s))}
        return _answer(request, 429, body, after)


DIALECT = _OpenAI()


def add_routes(app: web.Application) -> None:
    app.router.add_post(PATH, _serve)


async def _serve(request: web.Request) -> web.StreamResponse:
    return await guarded(request, DIALECT, _generate)


def fault_response(request: web.Request, fault: str) -> web.Response | None:
    if fault == "429":  # an injected one: its hint is scaled like every emulated wait
        return DIALECT.rate_limited(request, state_of(request).scaled(1.0))
    if fault == "busy":  # the model is busy with everyone's requests, not over our limit
        body = error_body(429, _MODEL_BUSY)
        body["error"]["type"] = "server_error"
        return _answer(request, 429, body)
    if fault == "quota":  # the account is out of money: no wait will help
        body = error_body(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
        )
        return _answer(request, 429, body)
    if fault == "policy":
        body = error_body(
            400,
            "Your request was rejected as a result of our safety system.",
            "content_policy_violation",
        )
        return _answer(request, 400, body)
    if fault.isdigit():
        return _answer(request, int(fault), error_body(int(fault), "The server had an error."))
    return common_fault(request, fault)


@dataclass(frozen=True, slots=True)
class _Ask:
    """A validated request: the model, n, pixels, URLs or base64, and the file format."""

    listing: Listing
    count: int
    size: tuple[int, int]
    as_url: bool
    output_format: str = "png"
    compression: int = 100


async def _generate(request: web.Request, state: State) -> web.StreamResponse:
    try:
        body = await request.json()
        ask = _parse(body, state)
    except ValueError as exc:  # a BodyValidationError, or JSON that is not JSON
        return _answer(request, 400, error_body(400, str(exc)))
    except LookupError as exc:
        return _answer(request, 404, error_body(404, str(exc.args[0]), "model_not_found"))
    fault = state.faults.generation()
    if fault is not None and fault != "filter":  # filter is Google's :predict only
        state.inject(fault)
        if (refusal := fault_response(request, fault)) is not None:
            return refusal
    await state.sleep(ask.listing.sample_latency(state.latency_rng))
    tokens = state.tokens(ask.size, ask.count, body["prompt"])
    state.bill(ask.count, ask.listing.usd * ask.count, body["prompt"])
    if ask.as_url:
        data: list[dict[str, Any]] = [{"url": url} for url in file_urls(request, tokens)]
    else:
        blobs = await inline_images(tokens)
        if ask.output_format != "png":
            blobs = [await encoded_as(blob, ask.output_format, ask.compression) for blob in blobs]
        data = [{"b64_json": blob} for blob in blobs]
    answer: dict[str, Any] = {"created": int(time.time()), "data": data}
    if not ask.listing.url_output:  # the GPT image models also say what they made
        answer |= _gpt_image_details(ask, body["prompt"])
    return _answer(request, 200, answer)


def _gpt_image_details(ask: _Ask, prompt: str) -> dict[str, Any]:
    """size, format, quality and usage, with input_tokens_details as the spec's example has it."""
    text_tokens = max(1, len(prompt) // 4)
    output_tokens = 1056 * ask.count
    return {
        "background": "opaque",
        "size": f"{ask.size[0]}x{ask.size[1]}",
        "output_format": ask.output_format,
        "quality": "medium",
        "usage": {
            "input_tokens": text_tokens,
            "input_tokens_details": {"image_tokens": 0, "text_tokens": text_tokens},
            "output_tokens": output_tokens,
            "output_tokens_details": {"image_tokens": output_tokens, "text_tokens": 0},
            "total_tokens": text_tokens + output_tokens,
        },
    }


async def encoded_as(blob: str, output_format: str, compression: int) -> str:
    """The base64 PNG as JPEG or WebP at the asked compression (quality), still base64 (the
    live answer's and the Batch API's lines')."""
    return await asyncio.to_thread(_reencode, blob, output_format, compression)


def _reencode(blob: str, output_format: str, compression: int) -> str:
    from PIL import Image  # only here: the in-process emulator of a demo starts without Pillow

    with Image.open(io.BytesIO(base64.b64decode(blob))) as image:
        out = io.BytesIO()
        image.convert("RGB").save(out, _PIL_FORMATS[output_format], quality=compression)
    return base64.b64encode(out.getvalue()).decode()


def _parse(body: object, state: State) -> _Ask:
    """The request, checked; LookupError for a model that is not (or no longer) there."""
    if not isinstance(body, dict):
        raise checks.BodyValidationError("Expected a JSON object")
    name = body.get("model", "dall-e-2")  # the spec's default, retired like every DALL-E model
    listing = OPENAI.get(name) if isinstance(name, str) else None
    if listing is None or state.faults.spec.is_retired(str(name)):
        raise LookupError(f"The model '{name}' does not exist or you do not have access to it.")
    checks.string("prompt", checks.required(body, "prompt"), 1, listing.prompt_chars or 32000)
    count = checks.integer(body, "n", 1, listing.max_images) or 1
    size = _size(body.get("size", "auto"), listing)
    if "response_format" in body and not listing.url_output:
        raise checks.BodyValidationError(f"Unknown parameter: 'response_format' for {name}")
    as_url = checks.enum(body, "response_format", ("url", "b64_json")) != "b64_json"
    output_format = checks.enum(body, "output_format", OUTPUT_FORMATS) or "png"
    compression = checks.integer(body, "output_compression", 0, 100)
    if compression is not None and output_format == "png":
        raise checks.BodyValidationError(
            "output_compression is only supported for the jpeg and webp output formats"
        )
    return _Ask(
        listing, count, size, as_url and listing.url_output, output_format,
        100 if compression is None else compression,
    )  # fmt: skip


def _size(value: object, listing: Listing) -> tuple[int, int]:
    if value == "auto":
        return (1024, 1024)  # every OpenAI model makes it
    accepted = {f"{w}x{h}": (w, h) for w, h in listing.accepted_sizes}
    if value in accepted:
        return accepted[str(value)]
    if listing.custom_sizes and isinstance(value, str) and (custom := _custom_size(value)):
        return custom
    rule = " or any WxH (multiples of 16, 1:3 to 3:1, up to 3840x2160)"
    raise checks.BodyValidationError(
        f"Invalid size {value!r}; expected one of {', '.join(accepted)}, auto"
        + (rule if listing.custom_sizes else "")
    )


def _custom_size(value: str) -> tuple[int, int] | None:
    width_text, _, height_text = value.partition("x")
    if not (width_text.isdigit() and height_text.isdigit()):
        return None
    width, height = int(width_text), int(height_text)
    if width < SIZE_STEP or height < SIZE_STEP or width % SIZE_STEP or height % SIZE_STEP:
        return None
    if max(width, height) > MAX_EDGE or width * height > MAX_PIXELS:
        return None
    return (width, height) if max(width, height) / min(width, height) <= MAX_RATIO else None
