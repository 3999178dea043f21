"""What the emulator imitates: per-model latency, price and response shape, pixel sizes, the request
contract, and the emulator's own configuration. Figures from providers.md 1.1-1.3, 2.6 and 5.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeGuard

from batchgen.emulator.images import MAX_TARGET_BYTES, MIN_TARGET_BYTES

if TYPE_CHECKING:  # faults.py reads the model table, so only the type comes from there
    from batchgen.emulator.faults import FaultSpec

CREDITS_PER_USD = 2_000_000

# 1K output sizes per aspect ratio (providers.md 2.6).
ASPECT_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "9:16": (768, 1408),
    "16:9": (1408, 768),
    "3:4": (896, 1280),
    "4:3": (1280, 896),
}

# Bytes per pixel of a real Imagen PNG (~1.5 MB at 1408x768) and of the "small" class (~100 KB).
SIZE_CLASS_BYTES_PER_PIXEL: dict[str, float] = {"realistic": 1.4, "small": 0.095}


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """How one model behaves: lognormal latency clamped to a range, price, response shape."""

    name: str
    latency_median_s: float
    latency_sigma: float
    latency_min_s: float
    latency_max_s: float
    credits_per_image: int
    fal_shape: bool  # True: fal's {"images", "seed"} pass-through; False: {"data", "meta"}
    max_prompt_chars: int = 400  # the GA schemas' maxLength (providers.md 1.1)

    def sample_latency(self, rng: random.Random) -> float:
        """One latency draw in seconds (before time scaling)."""
        value = rng.lognormvariate(math.log(self.latency_median_s), self.latency_sigma)
        return min(max(value, self.latency_min_s), self.latency_max_s)


PREVIEW = "google/imagen4/preview"

MODELS: dict[str, ModelProfile] = {
    # sigma from p50 4.8 s / p95 5.7 s: ln(5.7 / 4.8) / 1.645
    "google/imagen-4.0-fast-generate-001": ModelProfile(
        "google/imagen-4.0-fast-generate-001", 4.8, 0.105, 3.0, 9.0, 42_000, fal_shape=False
    ),
    "google/imagen-4.0-generate-001": ModelProfile(
        "google/imagen-4.0-generate-001", 10.0, 0.18, 7.0, 20.0, 84_000, fal_shape=False
    ),
    "google/imagen-4.0-ultra-generate-001": ModelProfile(
        "google/imagen-4.0-ultra-generate-001", 27.0, 0.25, 20.0, 45.0, 126_000, fal_shape=False
    ),
    # the preview is fal's model passed through; its own schema took 4000 characters
    PREVIEW: ModelProfile(
        PREVIEW, 10.0, 0.18, 7.0, 20.0, 120_000, fal_shape=True, max_prompt_chars=4000
    ),  # fmt: skip
}

# The Aug-2026 aimlapi page names the preview model without its vendor prefix.
MODEL_ALIASES: dict[str, str] = {"imagen4/preview": PREVIEW}

ACCEPTED_MODEL_NAMES: tuple[str, ...] = (*MODELS, *MODEL_ALIASES)


def find_profile(model: str) -> ModelProfile | None:
    """The profile for a model name or alias, or None when the emulator does not know it."""
    return MODELS.get(MODEL_ALIASES.get(model, model))


def canonical_model(model: str) -> str:
    """The table name of a model (aliases resolved); unknown names come back unchanged."""
    return MODEL_ALIASES.get(model, model)


def usd_for_credits(credits: int) -> float:
    """Credits to dollars at aimlapi's published rate."""
    return round(credits / CREDITS_PER_USD, 6)


def image_target_bytes(image_bytes: str | int, width: int, height: int) -> int:
    """The PNG byte size to aim for, from a size class name or an explicit byte count."""
    if isinstance(image_bytes, int):
        return image_bytes
    # a realistic 2K file would be ~6 MB; the file tokens carry at most MAX_TARGET_BYTES
    return min(round(SIZE_CLASS_BYTES_PER_PIXEL[image_bytes] * width * height), MAX_TARGET_BYTES)


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
        if not _is_int(self.seed):
            raise ValueError(f"seed must be an int, got {self.seed!r}")


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON-minded: True is no int


def _is_size_class_or_bytes(value: object) -> bool:
    if isinstance(value, str):
        return value in SIZE_CLASS_BYTES_PER_PIXEL
    return _is_int(value) and MIN_TARGET_BYTES <= value <= MAX_TARGET_BYTES
