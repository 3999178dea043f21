"""When to try again and how long to wait: full-jitter backoff, Retry-After, retryDelay (pure)."""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Callable
from datetime import datetime, timezone

from batchgen.errors import BatchgenError, DownloadError, ProviderError

BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
RETRY_AFTER_CAP_S = 300.0  # a server asking for longer is treated as "not now", capped
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*s\s*$")


def is_retryable(error: BatchgenError) -> bool:
    if isinstance(error, (ProviderError, DownloadError)):
        return error.retryable
    return False


def backoff_s(
    attempt: int,
    *,
    rand: Callable[[], float],
    base: float = BACKOFF_BASE_S,
    cap: float = BACKOFF_CAP_S,
) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1))]; attempt counts from 1."""
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    ceiling = min(cap, base * 2 ** min(attempt - 1, 32))
    return float(rand() * ceiling)


def delay_s(error: BatchgenError, attempt: int, *, rand: Callable[[], float]) -> float:
    """How long to wait before the next attempt: the server's hint wins over our backoff."""
    hint = error.retry_after if isinstance(error, ProviderError) else None
    if hint is not None:
        return min(max(hint, 0.0), RETRY_AFTER_CAP_S)
    return backoff_s(attempt, rand=rand)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None when unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        return _seconds_until_http_date(value, now)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _seconds_until_http_date(value: str, now: datetime | None) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max((when - now).total_seconds(), 0.0)


def parse_duration(value: object) -> float | None:
    """Google's protobuf Duration as JSON ("34s", "0.5s") -> seconds."""
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value)
    return float(match.group(1)) if match else None


_RESET_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_reset(value: str | None) -> float | None:
    """OpenAI's x-ratelimit-reset-* durations ("1s", "6m0s", "20ms", "1h2m3.5s") -> seconds."""
    text = (value or "").strip()
    parts = _RESET_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _UNIT_S[unit] for number, unit in parts)
