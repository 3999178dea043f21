"""The emulator's own configuration, checked at construction."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeGuard

from batchgen.emulator.faults import FaultSpec
from batchgen.emulator.images import MAX_TARGET_BYTES, MIN_TARGET_BYTES
from batchgen.emulator.profiles import SIZE_CLASS_BYTES_PER_PIXEL


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """How the emulator behaves; every argument is checked here, at construction."""

    time_scale: float = 1.0  # multiplies every latency; 0 answers at once, with no sleeping
    rpm: float | None = None  # request starts per sliding 60 s, else 429 + Retry-After
    # starts allowed in one window of 60 * burst / rpm seconds (default: the whole minute's);
    # a small burst makes a short window, so tests see limits reset quickly
    burst: int | None = None
    max_concurrency: int | None = None  # generation requests in flight, else 429
    api_key: str | None = None  # when set, "Authorization: Bearer <key>" is required
    image_bytes: str | int = "realistic"  # "small", "realistic" or a target byte count
    seed: int = 0  # seeds latency samples and fault draws
    faults: FaultSpec | None = None
    count_prompts: bool = False  # count successful generations per prompt (tests of "pay once")
    # batch APIs: a job's turnaround (scaled by time_scale); how many of the first jobs expire
    # part-way; the share of requests answered with a per-line error (a stable draw per id)
    batch_s: float = 60.0
    batch_expiries: int = 0
    batch_line_error_rate: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.time_scale) and self.time_scale >= 0):
            raise ValueError(f"time_scale must be a finite number >= 0, got {self.time_scale!r}")
        if self.rpm is not None and not (math.isfinite(self.rpm) and self.rpm > 0):
            raise ValueError(f"rpm must be a finite number > 0 or None, got {self.rpm!r}")
        if self.burst is not None and not (_is_int(self.burst) and self.burst >= 1):
            raise ValueError(f"burst must be an int >= 1 or None, got {self.burst!r}")
        if self.max_concurrency is not None and not (
            _is_int(self.max_concurrency) and self.max_concurrency >= 1
        ):
            raise ValueError(
                f"max_concurrency must be an int >= 1 or None, got {self.max_concurrency!r}"
            )
        if self.api_key is not None and (not isinstance(self.api_key, str) or not self.api_key):
            raise ValueError("api_key must be a non-empty string or None")
        if not _is_size_class_or_bytes(self.image_bytes):
            raise ValueError(
                "image_bytes must be 'small', 'realistic' or a byte count in "
                f"{MIN_TARGET_BYTES}..{MAX_TARGET_BYTES}, got {self.image_bytes!r}"
            )
        _check_batch(self)
        if not _is_int(self.seed):
            raise ValueError(f"seed must be an int, got {self.seed!r}")


def _check_batch(config: EmulatorConfig) -> None:
    if not (isinstance(config.batch_s, int | float) and math.isfinite(config.batch_s)):
        raise ValueError(f"batch_s must be a finite number >= 0, got {config.batch_s!r}")
    if config.batch_s < 0:
        raise ValueError(f"batch_s must be a finite number >= 0, got {config.batch_s!r}")
    if not (_is_int(config.batch_expiries) and config.batch_expiries >= 0):
        raise ValueError(f"batch_expiries must be an int >= 0, got {config.batch_expiries!r}")
    rate = config.batch_line_error_rate
    if not (isinstance(rate, int | float) and 0 <= rate <= 1):
        raise ValueError(f"batch_line_error_rate must be within 0..1, got {rate!r}")


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON-minded: True is no int


def _is_size_class_or_bytes(value: object) -> bool:
    if isinstance(value, str):
        return value in SIZE_CLASS_BYTES_PER_PIXEL
    return _is_int(value) and MIN_TARGET_BYTES <= value <= MAX_TARGET_BYTES
