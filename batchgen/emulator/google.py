"""The Google dialect: Imagen on models/{model}:predict and Gemini image models on
:generateContent, for the Gemini API (v1beta, no seed) and Vertex AI's paths (providers.md 2).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from batchgen.emulator import checks
from batchgen.emulator.faults import common_fault
from batchgen.emulator.lineup import GOOGLE, Listing
from batchgen.emulator.state import State, guarded, inline_images, state_of

GEMINI_API = "/{version:v1|v1beta}/models/{call}"  # the SDK now defaults to v1
VERTEX = "/{version:v1|v1beta1}/publishers/google/models/{call}"
VERTEX_PROJECT = (
    "/{version:v1|v1beta1}/projects/{project}/locations/{location}/publishers/google/models/{call}"
)
ASPECT_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")
# What the SDK refuses to send to the Gemini API (providers.md 2.2): Vertex AI only.
VERTEX_ONLY = ("seed", "addWatermark", "enhancePrompt", "negativePrompt", "storageUri")
_TYPE = "type.googleapis.com/google.rpc."
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# personGeneration in either spelling: the REST docs' lower case, the SDK's enum names
# (google-genai types.PersonGeneration: DONT_ALLOW, ALLOW_ADULT, ALLOW_ALL).
PERSON_GENERATION = ("dont_allow", "allow_adult", "allow_all")
_FREE_FORM = ("labels",)  # maps whose keys are the user's, not field names
_TOKEN = re.compile(r"\w+|[^\w\s]")  # a rough token count: words and punctuation
_FAULT_MESSAGES = {"500": "An internal error has occurred.", "504": "Deadline expired."}
# Vertex AI's pay-as-you-go 429 (error-code-429 page): no QuotaFailure, no RetryInfo.
_SHARED_POOL_BUSY = "Resource exhausted, please try again later."
_FILTERED = "Image was filtered because it violates the Responsible AI practices (code 58061214)."


def status_response(
    status: int, message: str, details: list[dict[str, Any]] | None = None
) -> web.Response:
    """google.rpc.Status as the JSON error body."""
    error = {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}
    return web.json_response({"error": error | {"details": details or []}}, status=status)


def _quota(quota_id: str, delay_s: float) -> list[dict[str, Any]]:
    return [
        {"@type": _TYPE + "QuotaFailure", "violations": [{"quotaId": quota_id}]},
        {"@type": _TYPE + "RetryInfo", "retryDelay": f"{delay_s:g}s"},
    ]


class _Google:
    def authorized(self, request: web.Request, state: State) -> bool:
        given = request.headers.get("x-goog-api-key") or request.query.get("key")
        return state.key_is(given, "{}")

    def error(self, request: web.Request, status: int, message: str) -> web.Response:
        if status == 401:  # Google answers a bad key with 400 and a reason
            reason = {"@type": _TYPE + "ErrorInfo", "reason": "API_KEY_INVALID"}
            return status_response(400, "API key not valid. Please pass a valid API key.", [reason])
        return status_response(status, message)

    def rate_limited(self, request: web.Request, wait_s: float) -> web.Response:
        quota = "GenerateRequestsPerMinutePerProjectPerModel"
        return status_response(
            429, "Resource has been exhausted (e.g. check quota).", _quota(quota, wait_s)
        )


DIALECT = _Google()


def add_routes(app: web.Application) -> None:
    for path in (GEMINI_API, VERTEX, VERTEX_PROJECT):
        app.router.add_post(path, _serve)


async def _serve(request: web.Request) -> web.StreamResponse:
    return await guarded(request, DIALECT, _generate)


def fault_response(request: web.Request, fault: str) -> web.Response | None:
    """Faults in Google's words; None for those that shape a 200 answer (policy, filter)."""
    if fault == "429":  # an injected one: its hint is scaled like every emulated wait
        return DIALECT.rate_limited(request, state_of(request).scaled(1.0))
    if fault == "busy":  # the shared pool was busy: no quota of this client's is named
        return status_response(429, _SHARED_POOL_BUSY)
    if fault == "quota":  # the daily quota: retrying before midnight Pacific is pointless
        quota = "GenerateRequestsPerDayPerProjectPerModel"
        return status_response(429, "Quota exceeded for requests per day.", _quota(quota, 3600))
    if fault.isdigit():
        return status_response(
            int(fault), _FAULT_MESSAGES.get(fault, "The service is unavailable.")
        )
    return common_fault(request, fault)


async def _generate(request: web.Request, state: State) -> web.StreamResponse:
    name, _, method = request.match_info["call"].partition(":")
    listing = GOOGLE.get(name)
    if listing is None or state.faults.spec.is_retired(name) or listing.method != method:
        version = request.path.split("/")[1]
        return status_response(
            404,
            f"models/{name} is not found for API version {version}, or is not supported "
            f"for {method}.",
        )
    try:
        body = proto_json(await request.json())
        job = _parse(body, listing, vertex="publishers" in request.path)
    except ValueError as exc:  # a BodyValidationError, or JSON that is not JSON
        return status_response(400, f"Invalid request: {exc}")
    fault = state.faults.generation()
    if fault is not None:
        state.inject(fault)
        if (refusal := fault_response(request, fault)) is not None:
            return refusal
    await state.sleep(listing.sample_latency(state.latency_rng))
    blobs = await inline_images(state.tokens(job.size, job.count, job.prompt))
    if method == "predict":
        answer, delivered = _predictions(blobs, fault, body)
    else:
        answer, delivered = _candidates(blobs, fault, body, name)
    # filtered images are not billed
    state.bill(delivered, listing.usd_for(job.resolution) * delivered, job.prompt)
    return web.json_response(answer)


@dataclass(frozen=True, slots=True)
class _Job:
    prompt: str
    count: int
    size: tuple[int, int]
    resolution: str


def proto_json(value: Any) -> Any:
    """Field names in lowerCamelCase: the proto3 JSON mapping says a server accepts the proto
    field name (generation_config, image_config, response_modalities) as well."""
    if isinstance(value, list):
        return [proto_json(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {
        _camel(key): item if key in _FREE_FORM else proto_json(item)
        for key, item in value.items()
        if not (_camel(key) != key and _camel(key) in value)  # the camelCase one wins
    }


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _parse(body: object, listing: Listing, *, vertex: bool) -> _Job:
    if not isinstance(body, dict):
        raise checks.BodyValidationError("Expected a JSON object")
    if listing.method == "predict":
        return _parse_predict(body, listing, vertex=vertex)
    return _parse_content(body, listing)


def _prompt(text: object, listing: Listing) -> str:
    prompt = checks.string("prompt", text, 1, 1_000_000)
    if listing.prompt_tokens is not None and len(_TOKEN.findall(prompt)) > listing.prompt_tokens:
        raise checks.BodyValidationError(f"prompt is longer than {listing.prompt_tokens} tokens")
    return prompt


def _size(listing: Listing, aspect: str, resolution: str) -> tuple[int, int]:
    if resolution not in listing.sizes:
        raise checks.BodyValidationError(
            f"image size {resolution} is not supported by {listing.name}"
        )
    return listing.sizes[resolution][aspect]


def _parse_predict(body: dict[str, Any], listing: Listing, *, vertex: bool) -> _Job:
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        raise checks.BodyValidationError("instances must hold exactly one {prompt} object")
    prompt = _prompt(instances[0].get("prompt"), listing)
    params = body.get("parameters", {})
    if not isinstance(params, dict):
        raise checks.BodyValidationError("parameters must be an object")
    if not vertex and (refused := [key for key in VERTEX_ONLY if key in params]):
        raise checks.BodyValidationError(f"{', '.join(refused)}: not supported in the Gemini API")
    count = checks.integer(params, "sampleCount", 1, listing.max_images)
    aspect = checks.enum(params, "aspectRatio", ASPECT_RATIOS) or "1:1"
    resolution = checks.enum(params, "sampleImageSize", ("1K", "2K")) or "1K"
    person = params.get("personGeneration")
    if person is not None:
        checks.enum_value(
            "personGeneration", person.lower() if isinstance(person, str) else person,
            PERSON_GENERATION,
        )  # fmt: skip
    checks.integer(params, "seed", 0, 4_294_967_295)
    # Gemini's docs: sampleCount defaults to 4 (clamped to what the model makes)
    return _Job(
        prompt,
        min(4, listing.max_images) if count is None else count,
        _size(listing, aspect, resolution),
        resolution,
    )


def _parse_content(body: dict[str, Any], listing: Listing) -> _Job:
    texts = [
        part["text"]
        for content in body.get("contents") or []
        if isinstance(content, dict)
        for part in content.get("parts") or []
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    ]
    prompt = _prompt(" ".join(texts), listing)
    config = body.get("generationConfig") or {}
    image = (config.get("imageConfig") or {}) if isinstance(config, dict) else {}
    if not isinstance(config, dict) or not isinstance(image, dict):
        raise checks.BodyValidationError("generationConfig and imageConfig must be objects")
    count = checks.integer(config, "candidateCount", 1, listing.max_images) or 1
    checks.integer(config, "seed", -(2**31), 2**31 - 1)
    aspect = checks.enum(image, "aspectRatio", ASPECT_RATIOS) or "1:1"
    resolution = checks.enum(image, "imageSize", ("1K", "2K")) or "1K"
    return _Job(prompt, count, _size(listing, aspect, resolution), resolution)


def _predictions(blobs: list[str], fault: str | None, body: Any) -> tuple[dict[str, Any], int]:
    """Images, with the safety filter's reasons in place of the ones it withheld."""
    entries: list[dict[str, Any]] = [
        {"bytesBase64Encoded": blob, "mimeType": "image/png"} for blob in blobs
    ]
    withheld = len(blobs) if fault == "policy" else 1 if fault == "filter" else 0
    for index in range(len(blobs) - withheld, len(blobs)):
        entries[index] = {"raiFilteredReason": _FILTERED}
    if (body.get("parameters") or {}).get("includeSafetyAttributes"):
        entries.append(
            {"contentType": "Positive Prompt", "safetyAttributes": {"categories": [], "scores": []}}
        )
    return {"predictions": entries}, len(blobs) - withheld


def _candidates(
    blobs: list[str], fault: str | None, body: Any, model: str
) -> tuple[dict[str, Any], int]:
    """One candidate per image; the safety filter ("policy") leaves only a finishReason."""
    modalities = (body.get("generationConfig") or {}).get("responseModalities") or ["TEXT", "IMAGE"]
    candidates = []
    for index, blob in enumerate(blobs):
        if fault == "policy":
            candidates.append({"finishReason": "IMAGE_SAFETY", "index": index})
            continue
        parts: list[dict[str, Any]] = (
            [{"text": "Here is your image."}] if "TEXT" in modalities else []
        )
        parts.append({"inlineData": {"mimeType": "image/png", "data": blob}})
        candidates.append(
            {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": index}
        )
    usage = {"promptTokenCount": 12, "candidatesTokenCount": 1290 * len(blobs)}
    answer = {
        "candidates": candidates,
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": uuid.uuid4().hex[:20],
    }
    return answer, 0 if fault == "policy" else len(blobs)
