"""`decide`: what to do after a failed request or download, as a pure table of cases."""

from __future__ import annotations

import pytest

from batchgen.errors import (
    AuthError,
    BatchgenError,
    DownloadError,
    ModelRetired,
    ProviderTimeout,
    QuotaExhausted,
    RateLimited,
    Rejected,
    ServerError,
    SinkError,
)
from batchgen.retry import (
    DOWNLOAD_BACKOFF_CAP_S,
    RETRY_AFTER_CAP_S,
    Decision,
    GiveUp,
    NextModel,
    Retry,
    RetryPolicy,
    StopRun,
    decide,
)

POLICY = RetryPolicy(max_attempts=3, download_attempts=4, resume_attempts=2)


def top() -> float:
    return 1.0  # the top of the jitter range: waits are exact


CASES: list[tuple[str, BatchgenError, int, bool, Decision]] = [
    # requests: (name, error, attempt, adaptive, decision)
    ("5xx, first try: back off 1s", ServerError("x"), 1, False, Retry(1.0)),
    ("5xx, second try: back off 2s", ServerError("x"), 2, False, Retry(2.0)),
    ("timeout is retried", ProviderTimeout("x"), 1, False, Retry(1.0)),
    ("attempts used up: next model", ServerError("x"), 3, False, NextModel()),
    ("429 without a hint: backoff, no hold", RateLimited("x"), 1, False, Retry(1.0)),
    ("Retry-After wins, holds all", RateLimited("x", retry_after=7), 1, False, Retry(7.0, True)),
    (
        "Retry-After capped",
        RateLimited("x", retry_after=10_000),
        1,
        False,
        Retry(RETRY_AFTER_CAP_S, True),
    ),
    ("adaptive: short hold is shrinking", RateLimited("x", retry_after=1), 1, True, Retry(1.0)),
    ("adaptive: long hold holds", RateLimited("x", retry_after=30), 1, True, Retry(30.0, True)),
    ("Retry-After on a 5xx holds none", ServerError("x", retry_after=5), 1, False, Retry(5.0)),
    ("Retry-After at the last try", RateLimited("x", retry_after=7), 3, False, NextModel()),
    ("retired model: next, for good", ModelRetired("x"), 1, False, NextModel(retired=True)),
    ("rejected prompt: give up", Rejected("x"), 1, False, GiveUp()),
    ("bad key stops the run", AuthError("x"), 1, False, StopRun()),
    ("quota stops the run", QuotaExhausted("x"), 3, False, StopRun()),
    ("not a provider error: give up", SinkError("x"), 1, False, GiveUp()),
    # downloads: fetched again, never a fallback model
    ("download: back off", DownloadError("x"), 1, False, Retry(1.0)),
    ("download: backoff capped", DownloadError("x"), 3, False, Retry(4.0)),
    ("download: used up", DownloadError("x"), 4, False, GiveUp()),
    ("download: expired link", DownloadError("x", retryable=False), 1, False, GiveUp()),
]


@pytest.mark.parametrize(
    ("error", "attempt", "adaptive", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decide(error: BatchgenError, attempt: int, adaptive: bool, expected: Decision) -> None:
    assert decide(error, attempt, POLICY, rand=top, adaptive=adaptive) == expected


def test_waits_scale_and_caps_come_from_the_policy() -> None:
    policy = RetryPolicy(backoff_cap_s=3.0, download_backoff_cap_s=2.0, wait_scale=0.5)
    assert decide(ServerError("x"), 4, RetryPolicy(max_attempts=9), rand=top) == Retry(8.0)
    capped = RetryPolicy(max_attempts=9, backoff_cap_s=3.0)
    assert decide(ServerError("x"), 4, capped, rand=top) == Retry(3.0)
    assert decide(DownloadError("x"), 2, policy, rand=top) == Retry(1.0)
    assert decide(RateLimited("x", retry_after=8), 1, policy, rand=top) == Retry(4.0, True)
    assert decide(ServerError("x"), 1, policy, rand=lambda: 0.0) == Retry(0.0)


def test_download_backoff_never_passes_its_cap() -> None:
    policy = RetryPolicy(download_attempts=50)
    assert decide(DownloadError("x"), 30, policy, rand=top) == Retry(DOWNLOAD_BACKOFF_CAP_S)


def test_resuming_allows_fewer_download_attempts() -> None:
    resuming = POLICY.resuming()
    assert resuming.download_attempts == POLICY.resume_attempts
    assert decide(DownloadError("x"), 1, resuming, rand=top) == Retry(1.0)
    assert decide(DownloadError("x"), 2, resuming, rand=top) == GiveUp()
    assert resuming.max_attempts == POLICY.max_attempts  # requests are not affected


@pytest.mark.parametrize("name", ["max_attempts", "download_attempts", "resume_attempts"])
def test_policy_checks_attempts_up_front(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        RetryPolicy(**{name: 0})


def test_policy_is_keyword_only_with_a_readable_repr() -> None:
    with pytest.raises(TypeError):
        RetryPolicy(3)  # type: ignore[call-arg]
    assert "max_attempts=5" in repr(RetryPolicy())
