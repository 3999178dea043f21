"""The OpenAI dialect: POST /openai/v1/images/generations (providers.md 3), with x-ratelimit-*
headers from the emulator's own start window and OpenAI's error body.
"""

from __future__ import annotations

import math
import time
import uuid
from typing import Any

from aiohttp import web

from batchgen.emulator import checks
from batchgen.emulator.faults import common_fault
from batchgen.emulator.lineup import OPENAI, Listing
from batchgen.emulator.state import State, file_urls, guarded, inline_images, state_of

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


async def _generate(request: web.Request, state: State) -> web.StreamResponse:
    try:
        body = await request.json()
        listing, count, size, as_url = _parse(body, state)
    except ValueError as exc:  # a BodyValidationError, or JSON that is not JSON
        return _answer(request, 400, error_body(400, str(exc)))
    except LookupError as exc:
        return _answer(request, 404, error_body(404, str(exc.args[0])))
    fault = state.faults.generation()
    if fault is not None and fault != "filter":  # filter is Google's :predict only
        state.inject(fault)
        if (refusal := fault_response(request, fault)) is not None:
            return refusal
    await state.sleep(listing.sample_latency(state.latency_rng))
    tokens = state.tokens(size, count, body["prompt"])
    state.bill(count, listing.usd * count, body["prompt"])
    if as_url:
        data: list[dict[str, Any]] = [{"url": url} for url in file_urls(request, tokens)]
    else:
        data = [{"b64_json": blob} for blob in await inline_images(tokens)]
    answer: dict[str, Any] = {"created": int(time.time()), "data": data}
    if not listing.url_output:  # the GPT image models also say what they made
        answer |= {
            "size": f"{size[0]}x{size[1]}",
            "output_format": "png",
            "quality": "medium",
            "usage": {
                "input_tokens": 12,
                "output_tokens": 1056 * count,
                "total_tokens": 12 + 1056 * count,
            },
        }
    return _answer(request, 200, answer)


def _parse(body: object, state: State) -> tuple[Listing, int, tuple[int, int], bool]:
    """(model, n, pixels, answer with URLs); LookupError for a model that is not there."""
    if not isinstance(body, dict):
        raise checks.BodyValidationError("Expected a JSON object")
    name = body.get("model", "dall-e-2")  # OpenAI's default model
    listing = OPENAI.get(name) if isinstance(name, str) else None
    if listing is None or state.faults.spec.is_retired(str(name)):
        raise LookupError(f"The model '{name}' does not exist or you do not have access to it.")
    checks.string("prompt", checks.required(body, "prompt"), 1, listing.prompt_chars or 32000)
    count = checks.integer(body, "n", 1, listing.max_images) or 1
    size = _size(body.get("size", "auto"), listing)
    if "response_format" in body and not listing.url_output:
        raise checks.BodyValidationError(f"Unknown parameter: 'response_format' for {name}")
    as_url = checks.enum(body, "response_format", ("url", "b64_json")) != "b64_json"
    checks.enum(body, "output_format", ("png",))  # the emulator only makes PNGs
    return listing, count, size, as_url and listing.url_output


def _size(value: object, listing: Listing) -> tuple[int, int]:
    if value == "auto":
        return (1024, 1024)  # every OpenAI model makes it
    accepted = {f"{w}x{h}": (w, h) for w, h in listing.accepted_sizes}
    if value not in accepted:
        raise checks.BodyValidationError(
            f"Invalid size {value!r}; expected one of {', '.join(accepted)}, auto"
        )
    return accepted[str(value)]
