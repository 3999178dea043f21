"""The AI/ML API dialect: POST /v1/images/generations, both response shapes, its error body."""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass

from aiohttp import web

from batchgen.emulator import checks, images
from batchgen.emulator.faults import (
    OVERCHARGE_FACTOR,
    common_fault,
    error_response,
    fault_response,
)
from batchgen.emulator.profiles import (
    ACCEPTED_MODEL_NAMES,
    ASPECT_SIZES,
    MODELS,
    ModelProfile,
    usd_for_credits,
)
from batchgen.emulator.state import (
    State,
    file_urls,
    guarded,
    inline_images,
)

PATH = "/v1/images/generations"
UNAUTHORIZED_MESSAGE = "This request requires a valid API key (Authorization: Bearer <key>)."
MAX_SEED = 4_294_967_295
NO_PROMPT_LIMIT = sys.maxsize


class _Aimlapi:
    def authorized(self, request: web.Request, state: State) -> bool:
        return state.key_is(request.headers.get("Authorization"), "Bearer {}")

    def error(self, request: web.Request, status: int, message: str) -> web.Response:
        return error_response(request, status, UNAUTHORIZED_MESSAGE if status == 401 else message)

    def rate_limited(self, request: web.Request, wait_s: float) -> web.Response:
        return error_response(
            request, 429, "Too Many Requests", {"Retry-After": str(math.ceil(wait_s))}
        )


DIALECT = _Aimlapi()


def add_routes(app: web.Application) -> None:
    app.router.add_post(PATH, _serve_generation)


async def _serve_generation(request: web.Request) -> web.StreamResponse:
    return await guarded(request, DIALECT, _generate)


async def _generate(request: web.Request, state: State) -> web.StreamResponse:
    try:
        body = await request.json()
    except ValueError:
        return error_response(request, 400, "Body validation error! Malformed JSON body")
    model = body.get("model") if isinstance(body, dict) else None
    if isinstance(model, str) and state.faults.spec.is_retired(model):
        return error_response(request, 404, "Model not found")
    try:
        job = parse_request(body)
    except checks.BodyValidationError as exc:
        return error_response(request, 400, f"Body validation error! {exc}")
    fault = state.faults.generation()
    if fault is not None and fault != "filter":  # filter is Google's :predict only
        state.inject(fault)
        return common_fault(request, fault) or fault_response(request, fault)
    await state.sleep(job.profile.sample_latency(state.latency_rng))
    return web.json_response(await _result_body(request, state, job))


async def _result_body(request: web.Request, state: State, job: GenerationRequest) -> object:
    """The success body: aimlapi's data/meta shape, or fal's images/seed shape for the preview."""
    job, factor = _cost_fault(job, state.faults.cost())
    size = ASPECT_SIZES[job.aspect_ratio]
    tokens = state.tokens(size, job.num_images, job.prompt, seed=job.seed)
    state.bill(job.num_images, usd_for_credits(abs(factor) * job.credits), job.prompt)
    if job.profile.fal_shape and job.as_url:  # base64 asked for: the data shape carries it
        sizes = [(await images.load_png(token)).size for token in tokens]
        seed = job.seed if job.seed is not None else state.latency_rng.randrange(MAX_SEED + 1)
        return fal_body(file_urls(request, tokens), sizes, seed)
    if job.as_url:
        return aimlapi_body(job, urls=file_urls(request, tokens), factor=factor)
    return aimlapi_body(job, blobs=await inline_images(tokens), factor=factor)


def _cost_fault(job: GenerationRequest, fault: str | None) -> tuple[GenerationRequest, int]:
    """A cost fault: the request answered with one image more, or a usage multiplied."""
    if fault == "extra_images":
        return dataclasses.replace(job, num_images=job.num_images + 1), 1
    return job, {"overcharge": OVERCHARGE_FACTOR, "negative_cost": -1}.get(fault or "", 1)


# The request schema of the GA models and google/imagen4/preview (providers.md 1.1); the
# imagen4/preview page documents fewer keys, and unknown keys are ignored, so one parser serves.
MAX_NUM_IMAGES = 4
DEFAULT_ASPECT_RATIO = "1:1"
_OPTIONAL_ENUMS: dict[str, tuple[str, ...]] = {
    "person_generation": ("dont_allow", "allow_adult"),
    "safety_setting": ("block_low_and_above", "block_medium_and_above", "block_only_high"),
}
_OPTIONAL_BOOLEANS = ("enhance_prompt", "add_watermark")


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """A validated POST /v1/images/generations body."""

    model: str
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
        raise checks.BodyValidationError(f"Expected object, received {checks.json_type(body)}")
    model = checks.enum_value("model", checks.required(body, "model"), ACCEPTED_MODEL_NAMES)
    profile = MODELS[model]
    longest = profile.max_prompt_chars or NO_PROMPT_LIMIT
    prompt = checks.string("prompt", checks.required(body, "prompt"), 1, longest)
    num_images = checks.integer(body, "num_images", 1, MAX_NUM_IMAGES)
    aspect_ratio = checks.enum(body, "aspect_ratio", tuple(ASPECT_SIZES))
    seed = checks.integer(body, "seed", 0, MAX_SEED)
    as_url = checks.boolean(body, "convert_base64_to_url")
    for name in _OPTIONAL_BOOLEANS:
        checks.boolean(body, name)
    for name, choices in _OPTIONAL_ENUMS.items():
        checks.enum(body, name, choices)
    return GenerationRequest(
        model=model,
        profile=profile,
        prompt=prompt,
        num_images=1 if num_images is None else num_images,
        aspect_ratio=aspect_ratio or DEFAULT_ASPECT_RATIO,
        seed=seed,
        as_url=True if as_url is None else as_url,
    )


def aimlapi_body(
    job: GenerationRequest,
    *,
    urls: list[str] | None = None,
    blobs: list[str] | None = None,
    factor: int = 1,
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
    credits = job.credits * factor
    usage = {"credits_used": credits, "usd_spent": usd_for_credits(credits)}
    return {"data": items, "meta": {"usage": usage}, "model": job.model}


def fal_body(urls: list[str], sizes: list[int], seed: int) -> dict[str, object]:
    """Shape B (the preview model's fal pass-through): files with their sizes, no usage."""
    files = [
        {"url": url, "content_type": "image/png", "file_name": "output.png", "file_size": size}
        for url, size in zip(urls, sizes, strict=True)
    ]
    return {"images": files, "seed": seed}
