"""Per-model facts the emulator imitates: latency, price, response shape, pixel sizes.

Figures come from providers.md sections 1.2-1.3 (prices) and 5 (latency, file sizes).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

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
    fal_shape: bool  # True: {"images": [...], "seed": n} pass-through; False: {"data": ..., "meta": ...}

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
    PREVIEW: ModelProfile(PREVIEW, 10.0, 0.18, 7.0, 20.0, 120_000, fal_shape=True),
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
    return round(SIZE_CLASS_BYTES_PER_PIXEL[image_bytes] * width * height)
