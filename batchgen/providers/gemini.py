"""Google's Gemini API: Imagen on models/{model}:predict, Gemini image models on :generateContent
(providers.md 2). Images come back inline as base64; errors are google.rpc.Status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import aiohttp

from batchgen import catalog
from batchgen.errors import Rejected, ServerError
from batchgen.models import Generation, ImageRef, Task
from batchgen.providers import google_status
from batchgen.providers.http import HttpProvider, call, redacted
from batchgen.providers.wire import items, json_object, mapping, string

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
API_VERSION = "v1beta"
# Google's SDK reads both; GOOGLE_API_KEY wins when both are set, and so does batchgen.
KEY_ENVS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
PREDICT, GENERATE_CONTENT = "predict", "generateContent"
_POSITIVE_PROMPT = "Positive Prompt"  # a prediction that rates the prompt: not an image


class GeminiProvider(HttpProvider):
    kind = "gemini"

    def __init__(
        self, session: aiohttp.ClientSession, *, base_url: str, api_key: str | None
    ) -> None:
        super().__init__(session, base_url=base_url, api_key=api_key)
        self._base = f"{self._base_url}/{API_VERSION}/models/"

    async def generate(self, task: Task, *, model: str) -> Generation:
        wire, method = catalog.wire_model(self.kind, model), method_for(model)
        body = predict_body(task) if method == PREDICT else content_body(task)
        headers = {"x-goog-api-key": self._api_key} if self._api_key else {}
        answer = await call(
            self._session, "POST", f"{self._base}{wire}:{method}", headers=headers, json=body
        )
        if answer.status != 200:
            raise redacted(google_status.error_for(answer.status, answer.body), self._api_key)
        if method == PREDICT:
            return parse_predict(answer.body, model=model)
        return parse_content(answer.body, model=model)


def method_for(model: str) -> str:
    """Imagen models :predict, Gemini image models :generateContent (by catalog, else by name)."""
    offering = catalog.lookup("gemini", model)
    if offering is not None:
        return offering.method
    return GENERATE_CONTENT if catalog.wire_model("gemini", model).startswith("gemini") else PREDICT


def camel(params: Mapping[str, Any]) -> dict[str, Any]:
    """person_generation -> personGeneration: one manifest's params fit Google's wire names."""
    return {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k): v for k, v in params.items()}


def predict_body(task: Task) -> dict[str, Any]:
    parameters: dict[str, Any] = camel(task.params)
    parameters.update(sampleCount=task.num_images, aspectRatio=task.aspect_ratio)
    if task.resolution != "1K":
        parameters["sampleImageSize"] = task.resolution
    if task.seed is not None:
        parameters["seed"] = task.seed
    return {"instances": [{"prompt": task.prompt}], "parameters": parameters}


def content_body(task: Task) -> dict[str, Any]:
    image_config: dict[str, Any] = {"aspectRatio": task.aspect_ratio}
    if task.resolution != "1K":
        image_config["imageSize"] = task.resolution
    config: dict[str, Any] = camel(task.params)
    config.update(responseModalities=["IMAGE"], imageConfig=image_config)
    if task.num_images > 1:
        config["candidateCount"] = task.num_images
    if task.seed is not None:
        config["seed"] = task.seed
    contents = [{"role": "user", "parts": [{"text": task.prompt}]}]
    return {"contents": contents, "generationConfig": config}


def parse_predict(body: bytes, *, model: str) -> Generation:
    """predictions[]: images as bytesBase64Encoded; raiFilteredReason entries are images the
    safety filter withheld (skipped; reported when nothing else came back)."""
    data = json_object(body)
    images: list[ImageRef] = []
    filtered: list[str] = []
    for index, item in enumerate(items(data.get("predictions"))):
        prediction = mapping(item)
        if reason := string(prediction.get("raiFilteredReason")):
            filtered.append(reason)
        elif b64 := string(prediction.get("bytesBase64Encoded")):
            mime = string(prediction.get("mimeType"))
            images.append(ImageRef(index=len(images), b64=b64, mime_type=mime))
        elif prediction.get("contentType") != _POSITIVE_PROMPT:
            raise ServerError(f"predictions[{index}] has neither an image nor a filter reason")
    if not images:
        raise Rejected(_nothing_back(filtered))
    return Generation(images=tuple(images), model=model)


def _nothing_back(filtered: list[str]) -> str:
    if not filtered:
        return "the provider returned no images (filtered?)"
    reasons = "; ".join(dict.fromkeys(filtered))
    return f"all {len(filtered)} images were withheld by the safety filter: {reasons}"


def parse_content(body: bytes, *, model: str) -> Generation:
    """candidates[].content.parts[].inlineData; text parts are the model talking, not images."""
    data = json_object(body)
    images: list[ImageRef] = []
    reasons: list[str] = []
    for candidate in map(mapping, items(data.get("candidates"))):
        for part in map(mapping, items(mapping(candidate.get("content")).get("parts"))):
            inline = mapping(part.get("inlineData") or part.get("inline_data"))
            if data_b64 := string(inline.get("data")):
                mime = string(inline.get("mimeType") or inline.get("mime_type"))
                images.append(ImageRef(index=len(images), b64=data_b64, mime_type=mime))
        finish = string(candidate.get("finishReason"))
        if finish and finish not in ("STOP", "MAX_TOKENS"):
            reasons.append(f"finishReason {finish}")
    if block := string(mapping(data.get("promptFeedback")).get("blockReason")):
        reasons.append(f"prompt blocked ({block})")
    if not images:
        why = "; ".join(reasons) or "the model answered without an image"
        raise Rejected(f"no image came back: {why}")
    return Generation(images=tuple(images), model=model)
