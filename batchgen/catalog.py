"""What each model can do on each provider: price, pixel sizes, images per request, prompt limit,
seed and 2K support. One table, read by manifest validation, pricing and planning (pure).

The emulator keeps its own profiles (DESIGN.md: it shares no code with the client, so one shared
bug cannot pass both sides); tests/test_catalog.py asserts the two agree on every shared fact.
Figures from providers.md unless a comment says otherwise.

Where the lineup comes from, as of when (a retirement is one line in RETIRED):
- AI/ML API: aimlapi/api-docs docs/api-references/image-models/Google/*.json, commit f14fa72f
  (2026-08-21); vendored under tests/data/specs/aimlapi/.
- Google: providers.md 0 and 2 (Imagen shutdown announced for 2026-08-17; the ids still answer
  on Vertex as far as anyone has recorded, so they stay listed; a 404 is a retired model).
- OpenAI: the `openai` Python SDK 3.57 (Nov 2026) `types/image_model.py` and
  `image_generate_params.py`: dall-e-2/dall-e-3 retired 2026-05-12, gpt-image-1 shut down
  2026-10-23; custom WxH sizes for gpt-image-2 and the 2.5 family.
- fal: providers.md 4.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

Size = tuple[int, int]
SizeTable = Mapping[str, Mapping[str, Size]]  # resolution -> aspect ratio -> (width, height)

# Imagen 4 output sizes (providers.md 2.6); gpt-image-2 is asked for the same pixels.
IMAGEN_1K: Mapping[str, Size] = {
    "1:1": (1024, 1024), "3:4": (896, 1280), "4:3": (1280, 896),
    "9:16": (768, 1408), "16:9": (1408, 768),
}  # fmt: skip
IMAGEN_2K: Mapping[str, Size] = {
    "1:1": (2048, 2048), "3:4": (1792, 2560), "4:3": (2560, 1792),
    "9:16": (1536, 2816), "16:9": (2816, 1536),
}  # fmt: skip
# Gemini image models (Gemini API image-generation doc; not in providers.md).
GEMINI3_1K: Mapping[str, Size] = {
    "1:1": (1024, 1024), "3:4": (896, 1200), "4:3": (1200, 896),
    "9:16": (768, 1376), "16:9": (1376, 768),
}  # fmt: skip
GEMINI3_2K: Mapping[str, Size] = {
    "1:1": (2048, 2048), "3:4": (1792, 2400), "4:3": (2400, 1792),
    "9:16": (1536, 2752), "16:9": (2752, 1536),
}  # fmt: skip
GEMINI25_1K: Mapping[str, Size] = {
    "1:1": (1024, 1024), "3:4": (864, 1184), "4:3": (1184, 864),
    "9:16": (768, 1344), "16:9": (1344, 768),
}  # fmt: skip
# OpenAI's fixed sizes (openai SDK 3.57 image_generate_params.py): 1024x1024, 1536x1024 and
# 1024x1536; of batchgen's aspect ratios only 1:1 is among them.
SQUARE: Mapping[str, Size] = {"1:1": (1024, 1024)}

ONE_K: SizeTable = {"1K": IMAGEN_1K}
UP_TO_2K: SizeTable = {"1K": IMAGEN_1K, "2K": IMAGEN_2K}


@dataclass(frozen=True, slots=True)
class Offering:
    """One model as one provider sells it."""

    model: str  # the id on that provider's wire
    price_usd: float  # per image, at 1K
    typical_latency_s: float  # for planning only; the report measures the real thing
    max_images: int = 4  # per request
    prompt_chars: int | None = None  # longest prompt in characters, where that is the rule
    prompt_tokens: int | None = None  # Google counts tokens: the emulator enforces, we cannot
    seed: bool = True
    sizes: SizeTable = field(default_factory=lambda: ONE_K)
    price_2k_usd: float | None = None  # None: 2K costs what 1K does
    method: str = ""  # gemini: "predict" (Imagen) or "generateContent" (Gemini image models)
    url_output: bool = True  # openai: False when the model only ever answers base64

    @property
    def resolutions(self) -> tuple[str, ...]:
        return tuple(self.sizes)

    def size(self, aspect_ratio: str, resolution: str = "1K") -> Size | None:
        return self.sizes.get(resolution, {}).get(aspect_ratio)

    def price(self, resolution: str = "1K") -> float:
        if resolution == "2K" and self.price_2k_usd is not None:
            return self.price_2k_usd
        return self.price_usd


@dataclass(frozen=True, slots=True)
class Model:
    """A model under every name a manifest may use, and where it is sold."""

    names: tuple[str, ...]
    offerings: Mapping[str, Offering]  # by provider kind


def _imagen(
    wire: str, usd: float, latency: float, *, max_images: int = 4, sizes: SizeTable = ONE_K
) -> Offering:
    """Imagen on Google's :predict: 480 tokens, no seed on the Gemini API (providers.md 2.2)."""
    return Offering(
        wire, usd, latency, max_images, prompt_tokens=480, seed=False, sizes=sizes, method="predict"
    )


def _gemini_image(
    wire: str, usd: float, latency: float, sizes: SizeTable, price_2k: float | None = None
) -> Offering:
    """Gemini image models on :generateContent: one image per request."""
    return Offering(
        wire, usd, latency, 1, sizes=sizes, price_2k_usd=price_2k, method="generateContent"
    )


def _openai(name: str, usd: float, sizes: SizeTable) -> Model:
    """A GPT image model: 32,000 prompt characters, n up to 10, no seed, always base64."""
    offering = Offering(name, usd, 20.0, 10, 32000, seed=False, sizes=sizes, url_output=False)
    return Model((name,), {"openai": offering})


# OpenAI bills tokens; the per-image figures are medium quality at 1024x1024: gpt-image-2's
# $0.04 as before; gpt-image-1.5 $0.034 and gpt-image-1-mini $0.011 are OpenAI's list figures as
# last known (not re-checked against a source in Nov 2026); the 2.5/2.6 models and
# chatgpt-image-latest have no per-image figure found (Nov 2026): planned at gpt-image-2's.
# Models with custom WxH sizes (SDK 3.57 `size` doc: gpt-image-2, its snapshot, the 2.5 family)
# get Imagen's pixels; the rest make 1:1.
_CUSTOM: SizeTable = UP_TO_2K
_FIXED: SizeTable = {"1K": SQUARE}
OPENAI_LINEUP: tuple[tuple[str, float, SizeTable], ...] = (
    ("gpt-image-2", 0.04, _CUSTOM),
    ("gpt-image-2-2026-04-21", 0.04, _CUSTOM),
    ("gpt-image-2.5-sunburst", 0.04, _CUSTOM),
    ("gpt-image-2.5-sunburst-2026-09-08", 0.04, _CUSTOM),
    ("gpt-image-2.5-flare", 0.04, _CUSTOM),
    ("gpt-image-2.5-flare-2026-09-08", 0.04, _CUSTOM),
    ("gpt-image-2.6-sunburst", 0.04, _FIXED),
    ("gpt-image-2.6-flare", 0.04, _FIXED),
    ("gpt-image-1.5", 0.034, _FIXED),
    ("gpt-image-1-mini", 0.011, _FIXED),
    ("chatgpt-image-latest", 0.04, _FIXED),
)


@dataclass(frozen=True, slots=True)
class Retirement:
    """A model its provider no longer serves: validation refuses it and names the successor."""

    on: str  # ISO date
    successor: str
    source: str


# (kind, name) -> retirement. Source: openai SDK 3.57 types/image_model.py (Nov 2026), which
# names gpt-image-1's successors; for DALL-E it says "a GPT image model": gpt-image-2 here.
RETIRED: Mapping[tuple[str, str], Retirement] = {
    ("openai", "gpt-image-1"): Retirement(
        "2026-10-23", "gpt-image-2.5-sunburst or gpt-image-2.5-flare", "openai SDK 3.57"
    ),
    ("openai", "dall-e-3"): Retirement("2026-05-12", "gpt-image-2", "openai SDK 3.57"),
    ("openai", "dall-e-2"): Retirement("2026-05-12", "gpt-image-2", "openai SDK 3.57"),
}


FAST, STANDARD, ULTRA, PREVIEW = (
    "google/imagen-4.0-fast-generate-001",
    "google/imagen-4.0-generate-001",
    "google/imagen-4.0-ultra-generate-001",
    "google/imagen4/preview",
)
PREVIEW_NO_VENDOR = "imagen4/preview"
MODELS: tuple[Model, ...] = (
    Model(
        (FAST, "imagen-4.0-fast-generate-001", "fal-ai/imagen4/preview/fast"),
        {
            "aimlapi": Offering(FAST, 0.021, 5.0, prompt_chars=400),
            "gemini": _imagen("imagen-4.0-fast-generate-001", 0.02, 5.0),
            # fal documents 2K for preview and ultra; other Google sources: Fast has no 2K
            "fal": Offering("fal-ai/imagen4/preview/fast", 0.02, 5.0),
        },
    ),
    Model(
        (STANDARD, "imagen-4.0-generate-001"),
        {
            "aimlapi": Offering(STANDARD, 0.042, 10.0, prompt_chars=400),
            "gemini": _imagen("imagen-4.0-generate-001", 0.04, 10.0, sizes=UP_TO_2K),
            "fal": Offering("fal-ai/imagen4/preview", 0.04, 10.0, sizes=UP_TO_2K),
        },
    ),
    Model(
        (ULTRA, "imagen-4.0-ultra-generate-001", "fal-ai/imagen4/preview/ultra"),
        {
            "aimlapi": Offering(ULTRA, 0.063, 25.0, prompt_chars=400),
            "gemini": _imagen("imagen-4.0-ultra-generate-001", 0.06, 25.0, sizes=UP_TO_2K),
            "fal": Offering("fal-ai/imagen4/preview/ultra", 0.06, 25.0, 1, sizes=UP_TO_2K),
        },
    ),
    Model(
        (PREVIEW, "fal-ai/imagen4/preview"),
        {
            # imagen-4-preview.json at f14fa72f: maxLength 400 (the May 2025 schema said 4,000)
            "aimlapi": Offering(PREVIEW, 0.06, 10.0, prompt_chars=400),
            "fal": Offering("fal-ai/imagen4/preview", 0.04, 10.0, sizes=UP_TO_2K),
        },
    ),
    # imagen-4-generate.json (2026-08-02 page, at f14fa72f): its own id and schema, no prompt
    # maxLength, answers data/meta with usd_spent; priced by its example (120,000 credits, $0.06).
    Model((PREVIEW_NO_VENDOR,), {"aimlapi": Offering(PREVIEW_NO_VENDOR, 0.06, 10.0)}),
    Model(
        ("imagen-4.0-ultra-generate-preview-06-06",),
        {  # the Vertex preview page: one image per request
            "gemini": _imagen(
                "imagen-4.0-ultra-generate-preview-06-06", 0.06, 25.0, max_images=1, sizes=UP_TO_2K
            ),
        },
    ),
    # Gemini image models: prices from Google's pricing page (per image at 1K / 2K), not in
    # providers.md; latency is a planning guess.
    Model(
        ("gemini-3.1-flash-image",),
        {
            "gemini": _gemini_image(
                "gemini-3.1-flash-image", 0.067, 15.0, {"1K": GEMINI3_1K, "2K": GEMINI3_2K}, 0.101
            ),
        },
    ),  # fmt: skip
    Model(
        ("gemini-3-pro-image",),
        {
            "gemini": _gemini_image(
                "gemini-3-pro-image", 0.134, 20.0, {"1K": GEMINI3_1K, "2K": GEMINI3_2K}
            ),
        },
    ),
    Model(
        ("gemini-2.5-flash-image",),
        {"gemini": _gemini_image("gemini-2.5-flash-image", 0.039, 8.0, {"1K": GEMINI25_1K})},
    ),
    *(_openai(name, usd, sizes) for name, usd, sizes in OPENAI_LINEUP),
)
# Imagen parameters the Gemini API refuses (Vertex AI only; providers.md 2.2), in wire names.
GEMINI_API_REFUSES = ("seed", "addWatermark", "enhancePrompt", "negativePrompt", "storageUri")
# Kinds whose whole lineup is in this table: a known model they do not sell is a mistake.
# Gateways (aimlapi, openai-compatible) sell far more than we list, so names pass through there.
CLOSED_KINDS = ("gemini", "fal")

_BY_NAME: dict[str, Model] = {name: model for model in MODELS for name in model.names}


def retirement(kind: str, name: str) -> Retirement | None:
    return RETIRED.get((kind, name))


def find_model(name: str) -> Model | None:
    return _BY_NAME.get(name)


def lookup(kind: str, name: str) -> Offering | None:
    """The facts of `name` on provider `kind`; None when batchgen does not know them."""
    model = _BY_NAME.get(name)
    return model.offerings.get(kind) if model else None


def wire_model(kind: str, name: str) -> str:
    """The id to send: a manifest may name a model the way another provider does."""
    offering = lookup(kind, name)
    return offering.model if offering else name


def sold_by(name: str) -> tuple[str, ...]:
    """The provider kinds that sell a known model (empty for unknown names)."""
    model = _BY_NAME.get(name)
    return tuple(model.offerings) if model else ()


def all_sizes() -> frozenset[Size]:
    """Every pixel size a known model makes."""
    return frozenset(
        size
        for model in MODELS
        for offering in model.offerings.values()
        for table in offering.sizes.values()
        for size in table.values()
    )
