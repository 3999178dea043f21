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


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """How the emulator behaves; every argument is checked here, at construction."""

    time_scale: float = 1.0  # multiplies every latency; 0 answers at once, with no sleeping
    rpm: float | None = None  # request starts per sliding 60 s, else 429 + Retry-After
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


# The request schema shared by all four models (providers.md 1.1).
MAX_PROMPT_CHARS = 400
MAX_SEED = 4_294_967_295
MAX_NUM_IMAGES = 4
DEFAULT_ASPECT_RATIO = "1:1"
_OPTIONAL_ENUMS: dict[str, tuple[str, ...]] = {
    "person_generation": ("dont_allow", "allow_adult"),
    "safety_setting": ("block_low_and_above", "block_medium_and_above", "block_only_high"),
}
_OPTIONAL_BOOLEANS = ("enhance_prompt", "add_watermark")


class BodyValidationError(ValueError):
    """A request body the real API would refuse; the text reads like aimlapi's zod messages."""


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """A validated POST /v1/images/generations body."""

    model: str  # as sent, which may be an alias
    profile: ModelProfile
    prompt: str
    num_images: int
    aspect_ratio: str
    seed: int | None
    as_url: bool  # convert_base64_to_url

    @property
    def credits(self) -> int:
        return self.profile.credits_per_image * self.num_images


def parse_request(body: object) -> GenerationRequest:
    """Validate a decoded JSON body; unknown keys are ignored, like the real API does."""
    if not isinstance(body, dict):
        raise BodyValidationError(f"Expected object, received {_json_type(body)}")
    model = _enum_value("model", _required(body, "model"), ACCEPTED_MODEL_NAMES)
    prompt = _string("prompt", _required(body, "prompt"), 1, MAX_PROMPT_CHARS)
    num_images = _integer(body, "num_images", 1, MAX_NUM_IMAGES)
    aspect_ratio = _enum(body, "aspect_ratio", tuple(ASPECT_SIZES))
    seed = _integer(body, "seed", 0, MAX_SEED)
    as_url = _boolean(body, "convert_base64_to_url")
    for name in _OPTIONAL_BOOLEANS:
        _boolean(body, name)
    for name, choices in _OPTIONAL_ENUMS.items():
        _enum(body, name, choices)
    return GenerationRequest(
        model=model,
        profile=MODELS[canonical_model(model)],
        prompt=prompt,
        num_images=1 if num_images is None else num_images,
        aspect_ratio=aspect_ratio or DEFAULT_ASPECT_RATIO,
        seed=seed,
        as_url=True if as_url is None else as_url,
    )


def aimlapi_body(
    job: GenerationRequest, *, urls: list[str] | None = None, blobs: list[str] | None = None
) -> dict[str, object]:
    """Shape A (GA models): one item per image, as a URL or as base64, and the credits spent."""
    items = [
        {
            "url": urls[i] if urls else None,
            "b64_json": blobs[i] if blobs else None,
            "mime_type": "image/png",
            "prompt": job.prompt,
        }
        for i in range(job.num_images)
    ]
    usage = {"credits_used": job.credits, "usd_spent": usd_for_credits(job.credits)}
    return {"data": items, "meta": {"usage": usage}, "model": job.model}


def fal_body(urls: list[str], sizes: list[int], seed: int) -> dict[str, object]:
    """Shape B (the preview model's fal pass-through): files with their sizes, no usage."""
    files = [
        {"url": url, "content_type": "image/png", "file_name": "output.png", "file_size": size}
        for url, size in zip(urls, sizes, strict=True)
    ]
    return {"images": files, "seed": seed}


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _required(body: dict[str, object], name: str) -> object:
    if name not in body:
        raise BodyValidationError(f"{name}: Required")
    return body[name]


def _enum(body: dict[str, object], name: str, choices: tuple[str, ...]) -> str | None:
    return _enum_value(name, body[name], choices) if name in body else None


def _enum_value(name: str, value: object, choices: tuple[str, ...]) -> str:
    expected = " | ".join(f"'{choice}'" for choice in choices)
    if not isinstance(value, str):
        raise BodyValidationError(f"{name}: Expected {expected}, received {_json_type(value)}")
    if value not in choices:
        raise BodyValidationError(
            f"{name}: Invalid enum value. Expected {expected}, received '{value}'"
        )
    return value


def _string(name: str, value: object, shortest: int, longest: int) -> str:
    if not isinstance(value, str):
        raise BodyValidationError(f"{name}: Expected string, received {_json_type(value)}")
    if len(value) < shortest:
        raise BodyValidationError(f"{name}: String must contain at least {shortest} character(s)")
    if len(value) > longest:
        raise BodyValidationError(f"{name}: String must contain at most {longest} character(s)")
    return value


def _integer(body: dict[str, object], name: str, lowest: int, highest: int) -> int | None:
    if name not in body:
        return None
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BodyValidationError(f"{name}: Expected number, received {_json_type(value)}")
    # JSON has one number type: 2.0 is an integer to a JavaScript validator, 2.5 is not.
    if isinstance(value, float) and not value.is_integer():
        raise BodyValidationError(f"{name}: Expected integer, received float")
    if value < lowest:
        raise BodyValidationError(f"{name}: Number must be greater than or equal to {lowest}")
    if value > highest:
        raise BodyValidationError(f"{name}: Number must be less than or equal to {highest}")
    return int(value)


def _boolean(body: dict[str, object], name: str) -> bool | None:
    if name not in body:
        return None
    value = body[name]
    if not isinstance(value, bool):
        raise BodyValidationError(f"{name}: Expected boolean, received {_json_type(value)}")
    return value
