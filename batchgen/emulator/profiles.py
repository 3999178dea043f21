"""The AI/ML API dialect's models: credits per image, response shape and prompt limit, with latency
and pixel sizes from lineup.py (the emulator's one table of Imagen facts). Figures from
providers.md 1.1-1.3 and aimlapi/api-docs at f14fa72f (tests/data/specs/aimlapi/).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from batchgen.emulator import lineup
from batchgen.emulator.images import MAX_TARGET_BYTES

CREDITS_PER_USD = 2_000_000

# 1K output sizes per aspect ratio (providers.md 2.6): the same table every dialect serves.
ASPECT_SIZES: dict[str, tuple[int, int]] = lineup.IMAGEN_1K

# Bytes per pixel of a real Imagen PNG (~1.5 MB at 1408x768) and of the "small" class (~100 KB).
SIZE_CLASS_BYTES_PER_PIXEL: dict[str, float] = {"realistic": 1.4, "small": 0.095}


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """How one model behaves on the AI/ML API: latency, price, response shape, prompt limit."""

    name: str
    latency: lineup.Latency
    credits_per_image: int
    fal_shape: bool  # True: fal's {"images", "seed"} pass-through; False: {"data", "meta"}
    max_prompt_chars: int | None = 400  # the schemas' maxLength (None: the page states none)

    def sample_latency(self, rng: random.Random) -> float:
        """One latency draw in seconds (before time scaling)."""
        return lineup.sample(self.latency, rng)


PREVIEW = "google/imagen4/preview"
PREVIEW_NO_VENDOR = "imagen4/preview"

MODELS: dict[str, ModelProfile] = {
    profile.name: profile
    for profile in (
        ModelProfile("google/imagen-4.0-fast-generate-001", lineup.FAST, 42_000, fal_shape=False),
        ModelProfile("google/imagen-4.0-generate-001", lineup.STANDARD, 84_000, fal_shape=False),
        ModelProfile("google/imagen-4.0-ultra-generate-001", lineup.ULTRA, 126_000, False),
        # fal's model passed through; imagen-4-preview.json (f14fa72f): maxLength 400
        ModelProfile(PREVIEW, lineup.STANDARD, 120_000, fal_shape=True),
        # imagen-4-generate.json (the Aug 2026 page): its own id, no maxLength, data/meta answers
        ModelProfile(
            PREVIEW_NO_VENDOR, lineup.STANDARD, 120_000, fal_shape=False,
            max_prompt_chars=None,
        ),
    )
}  # fmt: skip

ACCEPTED_MODEL_NAMES: tuple[str, ...] = tuple(MODELS)

# Two ids, one model underneath (fal's Imagen 4 preview): retiring one retires both.
SAME_MODEL: dict[str, str] = {PREVIEW_NO_VENDOR: PREVIEW}


def canonical_model(model: str) -> str:
    """The name a retirement is kept under; other names come back unchanged."""
    return SAME_MODEL.get(model, model)


def usd_for_credits(credits: int) -> float:
    """Credits to dollars at aimlapi's published rate."""
    return round(credits / CREDITS_PER_USD, 6)


def image_target_bytes(image_bytes: str | int, width: int, height: int) -> int:
    """The PNG byte size to aim for, from a size class name or an explicit byte count."""
    if isinstance(image_bytes, int):
        return image_bytes
    # a realistic 2K file would be ~6 MB; the file tokens carry at most MAX_TARGET_BYTES
    return min(round(SIZE_CLASS_BYTES_PER_PIXEL[image_bytes] * width * height), MAX_TARGET_BYTES)
