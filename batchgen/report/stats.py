"""Summary math for the report: percentiles, rates, throughput over time (pure)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

PERCENTILES = (50, 90, 95, 99)
SERIES_POINTS = 60
CDF_QUANTILES = tuple(q / 2 for q in range(201))  # every half percent: a smooth curve, 201 points


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, statistics' 'inclusive')."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], got {q}")
    position = (len(sorted_values) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def distribution(sorted_values: Sequence[float]) -> dict[str, float | int | None]:
    """count, mean, p50/p90/p95/p99 and max of already sorted values (None when empty)."""
    result: dict[str, float | int | None] = {"count": len(sorted_values)}
    if not sorted_values:
        result.update({"mean": None, **{f"p{q}": None for q in PERCENTILES}, "max": None})
        return result
    result["mean"] = math.fsum(sorted_values) / len(sorted_values)
    for q in PERCENTILES:
        result[f"p{q}"] = percentile(sorted_values, q)
    result["max"] = sorted_values[-1]
    return result


def cdf_quantiles(count: int) -> tuple[float, ...]:
    """Where to sample a CDF of `count` values: each one when there are few, else every half
    percent."""
    if count > len(CDF_QUANTILES):
        return CDF_QUANTILES
    return tuple(100 * rank / max(count - 1, 1) for rank in range(count))


def cdf(sorted_values: Sequence[float]) -> tuple[tuple[float, float], ...]:
    """(value, fraction of values at or below it) at the points `cdf_quantiles` picks."""
    quantiles = cdf_quantiles(len(sorted_values)) if sorted_values else ()
    return tuple((percentile(sorted_values, q), q / 100) for q in quantiles)


def duration_text(seconds: float | None) -> str:
    """'4.2 ms', '0.731 s', '12.5 s', '3 min 20 s', '2 h 5 min'; '–' for no value."""
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms" if seconds < 0.1 else f"{seconds:.3g} s"
    if seconds < 120:
        return f"{seconds:.3g} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def bucket_width(wall_s: float, points: int = SERIES_POINTS) -> float:
    """A round width (1, 2, 5 x 10^k seconds) giving at most about `points` buckets."""
    if wall_s <= 0:
        return 1.0
    raw = wall_s / points
    scale = 10 ** math.floor(math.log10(raw))
    return float(next(step * scale for step in (1, 2, 5, 10) if step * scale >= raw))


def throughput_series(
    finished: Iterable[tuple[float, int]], *, start: float, width: float
) -> list[dict[str, float]]:
    """Images per second in consecutive buckets from `start`, from (finished_at, images) pairs."""
    counts: dict[int, int] = {}
    for finished_at, images in finished:
        bucket = max(int((finished_at - start) // width), 0)
        counts[bucket] = counts.get(bucket, 0) + images
    if not counts:
        return []
    return [
        {"t_s": bucket * width, "images_per_s": counts.get(bucket, 0) / width}
        for bucket in range(max(counts) + 1)
    ]


Z_95 = 1.959964  # two-sided 95%


def quantile_interval(sorted_values: Sequence[float], q: float) -> tuple[float, float] | None:
    """A distribution-free 95% confidence interval for the q-th percentile of the population the
    values were drawn from: order statistics at ranks n*p -/+ z*sqrt(n*p*(1-p)) (the binomial
    count below the quantile, normal approximation). None: no values. Exact data, no sampling."""
    n = len(sorted_values)
    if n == 0:
        return None
    p = q / 100
    spread = Z_95 * math.sqrt(n * p * (1 - p))
    low = min(max(math.floor(n * p - spread), 0), n - 1)
    high = min(max(math.ceil(n * p + spread), 0), n - 1)
    return sorted_values[low], sorted_values[high]
