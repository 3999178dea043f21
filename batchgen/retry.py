"""When to try again and how long to wait (pure): one `RetryPolicy` for requests and downloads,
`decide(error, attempt, policy)` -> Retry | NextModel | GiveUp | StopRun, full-jitter backoff,
and the parsers of Retry-After, retryDelay and x-ratelimit-reset."""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from batchgen.errors import BatchgenError, DownloadError, ModelRetired, ProviderError, RateLimited
from batchgen.models import DEFAULT_MAX_ATTEMPTS

BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
RETRY_AFTER_CAP_S = 300.0  # a server asking for longer is treated as "not now", capped
DOWNLOAD_BACKOFF_CAP_S = 10.0
RESUME_ATTEMPTS = 2  # links left by a killed run may be gone for good: few tries
ADAPTIVE_HOLD_OVER_S = 2.0  # Retry-After longer than this pauses everyone even when adaptive


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how long to try again, for requests and for downloads alike."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS  # requests per model
    backoff_base_s: float = BACKOFF_BASE_S
    backoff_cap_s: float = BACKOFF_CAP_S
    retry_after_cap_s: float = RETRY_AFTER_CAP_S
    download_attempts: int = DEFAULT_MAX_ATTEMPTS  # per image
    download_backoff_cap_s: float = DOWNLOAD_BACKOFF_CAP_S
    resume_attempts: int = RESUME_ATTEMPTS  # per image, for links from a killed run
    wait_scale: float = 1.0  # multiplies every wait; tests turn it down (stamina's habit)

    def __post_init__(self) -> None:
        for name in ("max_attempts", "download_attempts", "resume_attempts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.wait_scale < 0:
            raise ValueError(f"wait_scale must be >= 0, got {self.wait_scale}")

    def resuming(self) -> RetryPolicy:
        """The policy for downloading what a killed run paid for."""
        return replace(self, download_attempts=self.resume_attempts)


@dataclass(frozen=True, slots=True)
class Retry:
    """Try the same thing again after `after_s`; `hold_all`: every request waits that long."""

    after_s: float
    hold_all: bool = False


@dataclass(frozen=True, slots=True)
class NextModel:
    """This model is done for this task; ask the next in the fallback chain.
    `retired`: the model is gone for good, for every task."""

    retired: bool = False


@dataclass(frozen=True, slots=True)
class GiveUp:
    """The task fails with this error (a fallback model would be asked the same thing)."""


@dataclass(frozen=True, slots=True)
class StopRun:
    """Every other task would fail the same way (bad key, quota): stop the run."""


Decision = Retry | NextModel | GiveUp | StopRun


def decide(
    error: BatchgenError,
    attempt: int,
    policy: RetryPolicy,
    *,
    rand: Callable[[], float],
    adaptive: bool = False,
) -> Decision:
    """What to do after `attempt` (from 1) failed with `error`. `adaptive`: the concurrency
    limit adapts to load, so a short Retry-After is answered by shrinking, not by a hold."""
    if isinstance(error, DownloadError):
        return _decide_download(error, attempt, policy, rand)
    if isinstance(error, ProviderError) and error.stops_run:
        return StopRun()
    if isinstance(error, ModelRetired):
        return NextModel(retired=True)
    if not is_retryable(error):
        return GiveUp()
    if attempt >= policy.max_attempts:
        return NextModel()
    delay = _request_delay_s(error, attempt, policy, rand)
    return Retry(after_s=delay * policy.wait_scale, hold_all=_holds_everyone(error, adaptive))


def _decide_download(
    error: DownloadError, attempt: int, policy: RetryPolicy, rand: Callable[[], float]
) -> Decision:
    """A paid image is fetched again, never generated again: no fallback, no hold."""
    if not error.retryable or attempt >= policy.download_attempts:
        return GiveUp()
    delay = backoff_s(
        attempt, rand=rand, base=policy.backoff_base_s, cap=policy.download_backoff_cap_s
    )
    return Retry(after_s=delay * policy.wait_scale)


def _request_delay_s(
    error: BatchgenError, attempt: int, policy: RetryPolicy, rand: Callable[[], float]
) -> float:
    """The server's hint wins over our backoff."""
    hint = error.retry_after if isinstance(error, ProviderError) else None
    if hint is not None:
        return min(max(hint, 0.0), policy.retry_after_cap_s)
    return backoff_s(attempt, rand=rand, base=policy.backoff_base_s, cap=policy.backoff_cap_s)


def _holds_everyone(error: BatchgenError, adaptive: bool) -> bool:
    """A Retry-After asks every request to wait, not just this one. An adaptive limit
    answers a short one (a concurrency 429) by shrinking; a long one is a quota window."""
    if not isinstance(error, RateLimited) or error.retry_after is None:
        return False
    return not adaptive or error.retry_after > ADAPTIVE_HOLD_OVER_S


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
    return _request_delay_s(error, attempt, RetryPolicy(), rand)


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
