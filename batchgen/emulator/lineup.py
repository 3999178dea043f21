"""The models the Google, OpenAI and fal dialects serve, and what each can do there: latency, price,
pixel sizes, images per request, prompt limit, seed. The Imagen sizes and latencies here are the
emulator's one copy; profiles.MODELS (the AI/ML API dialect) reads them from this module.

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
# OpenAI takes a "WxH" size: the GPT image models' standard three (openai SDK 3.57
# image_generate_params.py); the custom-size models also take any WxH within CUSTOM_SIZE rules.
GPT_IMAGE_SIZES = ((1024, 1024), (1536, 1024), (1024, 1536))

Latency = tuple[float, float, float, float]  # median s, lognormal sigma, min s, max s

# sigma from p50 4.8 s / p95 5.7 s: ln(5.7 / 4.8) / 1.645 (providers.md 5)
FAST = (4.8, 0.105, 3.0, 9.0)
STANDARD = (10.0, 0.18, 7.0, 20.0)
ULTRA = (27.0, 0.25, 20.0, 45.0)
SLOW = (20.0, 0.25, 10.0, 60.0)


def sample(latency: Latency, rng: random.Random) -> float:
    """One lognormal latency draw in seconds, clamped to the range (before time scaling)."""
    median, sigma, low, high = latency
    return min(max(rng.lognormvariate(math.log(median), sigma), low), high)


@dataclass(frozen=True, slots=True)
class Listing:
    """One model as one emulated API sells it."""

    name: str
    latency: Latency
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
    custom_sizes: bool = False  # OpenAI: any WxH within CUSTOM_SIZE rules is taken too

    def sample_latency(self, rng: random.Random) -> float:
        return sample(self.latency, rng)

    def usd_for(self, resolution: str) -> float:
        return self.usd_2k if resolution == "2K" and self.usd_2k is not None else self.usd


def _imagen(
    name: str,
    latency: Latency,
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


def _gpt_image(name: str, usd: float, custom: bool) -> Listing:
    """A GPT image model (openai SDK 3.57): n 1-10, 32,000 characters, base64 answers only."""
    sizes = {"1K": IMAGEN_1K, "2K": IMAGEN_2K} if custom else {"1K": {"1:1": (1024, 1024)}}
    accepted = (*GPT_IMAGE_SIZES, *IMAGEN_1K.values(), *IMAGEN_2K.values()) if custom else ()
    return Listing(
        name, SLOW, usd, sizes, 10, seed=False, prompt_chars=32000, url_output=False,
        accepted_sizes=accepted or GPT_IMAGE_SIZES, custom_sizes=custom,
    )  # fmt: skip


# The openai SDK 3.57 (Nov 2026) types/image_model.py lineup, less what it calls retired or shut
# down (dall-e-2, dall-e-3 on 2026-05-12; gpt-image-1 on 2026-10-23): those answer 404 here.
# Per-image prices: medium quality at 1024x1024, gpt-image-2's where none is published.
OPENAI: dict[str, Listing] = {
    listing.name: listing
    for listing in (
        _gpt_image("gpt-image-2", 0.04, custom=True),
        _gpt_image("gpt-image-2-2026-04-21", 0.04, custom=True),
        _gpt_image("gpt-image-2.5-sunburst", 0.04, custom=True),
        _gpt_image("gpt-image-2.5-sunburst-2026-09-08", 0.04, custom=True),
        _gpt_image("gpt-image-2.5-flare", 0.04, custom=True),
        _gpt_image("gpt-image-2.5-flare-2026-09-08", 0.04, custom=True),
        _gpt_image("gpt-image-2.6-sunburst", 0.04, custom=False),
        _gpt_image("gpt-image-2.6-flare", 0.04, custom=False),
        _gpt_image("gpt-image-1.5", 0.034, custom=False),
        _gpt_image("gpt-image-1-mini", 0.011, custom=False),
        _gpt_image("chatgpt-image-latest", 0.04, custom=False),
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
