"""Google's errors (google.rpc.Status) -> batchgen's error tree, in one place (providers.md 2.4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchgen.errors import (
    AuthError,
    ModelRetired,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    Rejected,
    ServerError,
)
from batchgen.providers.wire import body_text, items, mapping, maybe_json, shorten, string
from batchgen.retry import parse_duration

_TYPE = "type.googleapis.com/google.rpc."
_BAD_KEY_REASONS = ("API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED")


def error_for(status: int, body: bytes) -> ProviderError:
    """Classify by HTTP status and the Status name and details (never by message text)."""
    error = mapping(mapping(maybe_json(body)).get("error"))
    name = string(error.get("status")) or ""
    details = [mapping(item) for item in items(error.get("details"))]
    text = shorten(str(error["message"])) if error.get("message") else body_text(body)
    message = f"HTTP {status}{' ' + name if name else ''}: {text}"
    delay = retry_delay_s(details)
    if status == 402:  # prepaid credit used up: every other request would fail the same way
        return AuthError(message, status=status)
    if status == 429 or name == "RESOURCE_EXHAUSTED":
        if is_daily_quota(details):
            return QuotaExhausted(
                f"{message} (a daily quota; it resets at midnight Pacific)", status=status
            )
        own = _names_a_quota(details)  # without one: the shared pool was busy (Vertex)
        return RateLimited(message, status=status, retry_after=delay, own_limit=own)
    if (
        status in (401, 403)
        or name == "FAILED_PRECONDITION"
        or _reason(details) in _BAD_KEY_REASONS
    ):
        return AuthError(message, status=status)  # bad key, no billing: nothing will work
    if status == 404:
        return ModelRetired(message, status=status)
    if status in (408, 499) or status >= 500:
        return ServerError(message, status=status, retry_after=delay)
    return Rejected(message, status=status)


def retry_delay_s(details: list[Mapping[str, Any]]) -> float | None:
    """RetryInfo.retryDelay ("34s"), the server's own hint."""
    for detail in details:
        if detail.get("@type") == _TYPE + "RetryInfo":
            return parse_duration(detail.get("retryDelay"))
    return None


def _names_a_quota(details: list[Mapping[str, Any]]) -> bool:
    return any(detail.get("@type") == _TYPE + "QuotaFailure" for detail in details)


def is_daily_quota(details: list[Mapping[str, Any]]) -> bool:
    """A QuotaFailure violation whose quotaId counts per day: retrying today is pointless."""
    for detail in details:
        if detail.get("@type") != _TYPE + "QuotaFailure":
            continue
        for violation in items(detail.get("violations")):
            quota_id = string(mapping(violation).get("quotaId")) or ""
            if "PerDay" in quota_id:
                return True
    return False


def _reason(details: list[Mapping[str, Any]]) -> str | None:
    for detail in details:
        if detail.get("@type") == _TYPE + "ErrorInfo":
            return string(detail.get("reason"))
    return None
