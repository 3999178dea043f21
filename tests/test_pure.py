"""Pricing, retry/backoff, report math, budget, image sniffing: pure functions."""

from __future__ import annotations

import random
import statistics
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from batchgen import pricing, retry
from batchgen.errors import DownloadError, ModelRetired, RateLimited, Rejected, ServerError
from batchgen.models import Usage
from batchgen.report import stats as report
from batchgen.run.budget import Budget
from batchgen.store import imageinfo

FAST = "google/imagen-4.0-fast-generate-001"


def test_reported_usage_wins_over_the_price_table() -> None:
    assert pricing.cost_usd(FAST, 2, Usage(usd=0.05)) == 0.05
    assert pricing.cost_usd(FAST, 2, Usage(credits=84000)) == pytest.approx(0.042)
    assert pricing.cost_usd(FAST, 2, Usage()) == pytest.approx(0.042)
    assert pricing.cost_usd("unknown/model", 2, Usage()) == 0.0


def test_price_table_matches_aimlapi_credits() -> None:
    # 42000 / 84000 / 126000 credits per image at $1 = 2,000,000 credits
    for model, credits in [
        (FAST, 42000),
        ("google/imagen-4.0-generate-001", 84000),
        ("google/imagen-4.0-ultra-generate-001", 126000),
    ]:
        assert pricing.price_per_image(model) == pytest.approx(credits * pricing.USD_PER_CREDIT)
    assert pricing.worst_case_usd(FAST, 4) == pytest.approx(0.084)


def test_full_jitter_backoff_bounds() -> None:
    assert retry.backoff_s(1, rand=lambda: 1.0) == 1.0
    assert retry.backoff_s(4, rand=lambda: 1.0) == 8.0
    assert retry.backoff_s(30, rand=lambda: 1.0) == retry.BACKOFF_CAP_S
    assert retry.backoff_s(3, rand=lambda: 0.0) == 0.0
    rng = random.Random(1)
    samples = [retry.backoff_s(3, rand=rng.random) for _ in range(1000)]
    assert min(samples) >= 0 and max(samples) <= 4.0
    with pytest.raises(ValueError, match="attempt"):
        retry.backoff_s(0, rand=rng.random)


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 11, 22, 12, 0, 0, tzinfo=timezone.utc)
    assert retry.parse_retry_after("7", now=now) == 7.0
    assert (
        retry.parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now)
        == 30.0
    )
    assert (
        retry.parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now)
        == 0.0
    )
    for bad in (None, "", "soon", "-3", "nan"):
        assert retry.parse_retry_after(bad, now=now) is None
    assert retry.parse_duration("34s") == 34.0
    assert retry.parse_duration("0.5s") == 0.5
    assert retry.parse_duration(34) is None


def test_server_hint_wins_and_is_capped() -> None:
    assert retry.delay_s(RateLimited("x", retry_after=12), 1, rand=lambda: 0.5) == 12
    assert (
        retry.delay_s(RateLimited("x", retry_after=10_000), 1, rand=lambda: 0.5)
        == retry.RETRY_AFTER_CAP_S
    )
    assert retry.delay_s(ServerError("x"), 2, rand=lambda: 0.5) == 1.0


def test_what_is_retryable() -> None:
    assert retry.is_retryable(RateLimited("x")) and retry.is_retryable(ServerError("x"))
    assert retry.is_retryable(DownloadError("x"))
    assert not retry.is_retryable(Rejected("x")) and not retry.is_retryable(ModelRetired("x"))


def test_percentiles_match_statistics_inclusive() -> None:
    rng = random.Random(3)
    values = sorted(rng.lognormvariate(0, 1) for _ in range(501))
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    for q in (50, 90, 95, 99):
        assert report.percentile(values, q) == pytest.approx(cuts[q - 1])
    assert report.percentile(values, 100) == values[-1]
    assert report.percentile([4.0], 99) == 4.0
    with pytest.raises(ValueError):
        report.percentile([], 50)


def test_distribution_of_nothing_is_explicit() -> None:
    assert report.distribution([]) == {
        "count": 0, "mean": None, "p50": None, "p90": None, "p95": None, "p99": None, "max": None
    }  # fmt: skip
    d = report.distribution([1.0, 2.0, 3.0])
    assert d["count"] == 3 and d["mean"] == 2.0 and d["p50"] == 2.0 and d["max"] == 3.0


def test_throughput_series() -> None:
    series = report.throughput_series([(100.5, 2), (100.7, 2), (102.1, 4)], start=100.0, width=1.0)
    assert series == [
        {"t_s": 0.0, "images_per_s": 4.0},
        {"t_s": 1.0, "images_per_s": 0.0},
        {"t_s": 2.0, "images_per_s": 4.0},
    ]
    assert report.bucket_width(30) == 0.5 and report.bucket_width(3600) == 100.0


def test_budget_reserves_worst_case() -> None:
    budget = Budget(0.10)
    assert budget.reserve(0.042) and budget.reserve(0.042)
    assert not budget.reserve(0.042)  # 0.126 committed would pass the cap
    budget.settle(0.042, 0.021)
    assert budget.reserve(0.021) and budget.spent_usd == pytest.approx(0.021)
    assert Budget(None).reserve(1e9)
    with pytest.raises(ValueError, match="max_usd"):
        Budget(0)


def test_sniffing_and_completeness() -> None:
    assert imageinfo.sniff_format(b"<html>") is None
    assert imageinfo.sniff_format(imageinfo.PNG_MAGIC) == ("image/png", "png")
    assert imageinfo.sniff_format(b"\xff\xd8\xff\xe0") == ("image/jpeg", "jpg")
    assert imageinfo.is_complete("image/png", b"xx" + imageinfo.PNG_END)
    assert not imageinfo.is_complete("image/png", b"x" * 16)
