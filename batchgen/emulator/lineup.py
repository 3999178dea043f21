"""The models the Google, OpenAI and fal dialects serve, and what each can do there: latency, price,
pixel sizes, images per request, prompt limit, seed. (The aimlapi lineup is profiles.MODELS.)

The emulator's own copy of these facts, written from providers.md beside the client's catalog
and never imported from it; tests/test_catalog.py checks that the two agree.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

Size = tuple[int, int]

IMAGEN_1K = {
    "1:1": (1024, 1024),
    "3:4": (896, 1280),
    "4:3": (1280, 896),
    "9:16": (768, 1408),
    "16:9": (1408, 768),
}
IMAGEN_2K = {
    "1:1": (2048, 2048),
    "3:4": (1792, 2560),
    "4:3": (2560, 1792),
    "9:16": (1536, 2816),
    "16:9": (2816, 1536),
}
GEMINI3_1K = {
    "1:1": (1024, 1024),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
}
GEMINI3_2K = {
    "1:1": (2048, 2048),
    "3:4": (1792, 2400),
    "4:3": (2400, 1792),
    "9:16": (1536, 2752),
    "16:9": (2752, 1536),
}
GEMINI25_1K = {
    "1:1": (1024, 1024),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
}
# OpenAI takes a "WxH" size; these are the ones each model accepts.
DALLE3_SIZES = ((1024, 1024), (1792, 1024), (1024, 1792))
GPT_IMAGE_1_SIZES = ((1024, 1024), (1536, 1024), (1024, 1536))
DALLE2_SIZES = ((256, 256), (512, 512), (1024, 1024))

# Latency (median s, lognormal sigma, min s, max s), as in profiles.MODELS where the model is one.
FAST = (4.8, 0.105, 3.0, 9.0)
STANDARD = (10.0, 0.18, 7.0, 20.0)
ULTRA = (27.0, 0.25, 20.0, 45.0)
SLOW = (20.0, 0.25, 10.0, 60.0)


@dataclass(frozen=True, slots=True)
class Listing:
    """One model as one emulated API sells it."""

    name: str
    latency: tuple[float, float, float, float]
    usd: float  # per image at 1K
    sizes: dict[str, dict[str, Size]]  # resolution -> aspect ratio -> pixels
    max_images: int = 4
    seed: bool = True
    prompt_chars: int | None = None
    prompt_tokens: int | None = None
    usd_2k: float | None = None
    method: str = ""  # Google: "predict" or "generateContent"
    url_output: bool = True  # OpenAI: False when answers are always base64
    accepted_sizes: tuple[Size, ...] = field(default=())  # OpenAI: the "WxH" values it takes

    def sample_latency(self, rng: random.Random) -> float:
        median, sigma, low, high = self.latency
        return min(max(rng.lognormvariate(math.log(median), sigma), low), high)

    def usd_for(self, resolution: str) -> float:
        return self.usd_2k if resolution == "2K" and self.usd_2k is not None else self.usd


def _imagen(
    name: str,
    latency: tuple[float, float, float, float],
    usd: float,
    two_k: bool,
    max_images: int = 4,
) -> Listing:
    sizes = {"1K": IMAGEN_1K, "2K": IMAGEN_2K} if two_k else {"1K": IMAGEN_1K}
    return Listing(
        name, latency, usd, sizes, max_images, seed=False, prompt_tokens=480, method="predict"
    )


GOOGLE: dict[str, Listing] = {
    listing.name: listing
    for listing in (
        _imagen("imagen-4.0-fast-generate-001", FAST, 0.02, two_k=False),
        _imagen("imagen-4.0-generate-001", STANDARD, 0.04, two_k=True),
        _imagen("imagen-4.0-ultra-generate-001", ULTRA, 0.06, two_k=True),
        _imagen("imagen-4.0-ultra-generate-preview-06-06", ULTRA, 0.06, two_k=True, max_images=1),
        Listing(
            "gemini-3.1-flash-image",
            (15.0, 0.2, 8.0, 30.0),
            0.067,
            {"1K": GEMINI3_1K, "2K": GEMINI3_2K},
            1,
            usd_2k=0.101,
            method="generateContent",
        ),
        Listing(
            "gemini-3-pro-image",
            SLOW,
            0.134,
            {"1K": GEMINI3_1K, "2K": GEMINI3_2K},
            1,
            method="generateContent",
        ),
        Listing(
            "gemini-2.5-flash-image",
            (8.0, 0.2, 4.0, 16.0),
            0.039,
            {"1K": GEMINI25_1K},
            1,
            method="generateContent",
        ),
    )
}

OPENAI: dict[str, Listing] = {
    listing.name: listing
    for listing in (
        Listing(
            "gpt-image-2",
            SLOW,
            0.04,
            {"1K": IMAGEN_1K, "2K": IMAGEN_2K},
            10,
            seed=False,
            prompt_chars=32000,
            url_output=False,
            accepted_sizes=(*IMAGEN_1K.values(), *IMAGEN_2K.values()),
        ),
        Listing(
            "gpt-image-1",
            SLOW,
            0.042,
            {"1K": {"1:1": (1024, 1024)}},
            10,
            seed=False,
            prompt_chars=32000,
            url_output=False,
            accepted_sizes=GPT_IMAGE_1_SIZES,
        ),
        Listing(
            "dall-e-3",
            (15.0, 0.2, 8.0, 30.0),
            0.04,
            {"1K": {"1:1": (1024, 1024), "16:9": (1792, 1024), "9:16": (1024, 1792)}},
            1,
            seed=False,
            prompt_chars=4000,
            accepted_sizes=DALLE3_SIZES,
        ),
        Listing(
            "dall-e-2",
            FAST,
            0.02,
            {"1K": {"1:1": (1024, 1024)}},
            10,
            seed=False,
            prompt_chars=1000,
            accepted_sizes=DALLE2_SIZES,
        ),
    )
}

FAL: dict[str, Listing] = {
    listing.name: listing
    for listing in (
        Listing("fal-ai/imagen4/preview/fast", FAST, 0.02, {"1K": IMAGEN_1K}),
        Listing("fal-ai/imagen4/preview", STANDARD, 0.04, {"1K": IMAGEN_1K, "2K": IMAGEN_2K}),
        Listing(
            "fal-ai/imagen4/preview/ultra",
            ULTRA,
            0.06,
            {"1K": IMAGEN_1K, "2K": IMAGEN_2K},
            max_images=1,
        ),
    )
}

LISTED_NAMES: tuple[str, ...] = (*GOOGLE, *OPENAI, *FAL)


def all_sizes() -> frozenset[Size]:
    """Every pixel size a listed model can make (the file route serves these)."""
    tables = [listing.sizes for table in (GOOGLE, OPENAI, FAL) for listing in table.values()]
    accepted = [size for listing in OPENAI.values() for size in listing.accepted_sizes]
    return frozenset(
        [size for sizes in tables for by_aspect in sizes.values() for size in by_aspect.values()]
        + accepted
    )
