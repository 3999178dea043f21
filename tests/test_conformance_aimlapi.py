"""The AI/ML API against its own published specs (aimlapi/api-docs at f14fa72f, vendored in
tests/data/specs/aimlapi): what batchgen sends validates against the page of the model it names,
the emulator's answers validate against the same page, and bodies the spec allows or forbids
(lengths, enums, bounds) are answered 200 or 400 as it says."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from batchgen.models import ProviderConfig
from batchgen.run.job import RunOptions, run_job
from tests.conformance import KEY, aimlapi_spec, problems, recording_emulator
from tests.helpers import check_run_dir, load

pytestmark = pytest.mark.anyio
KEY_ENV = "BATCHGEN_CONFORMANCE_KEY"
PATH = "/v1/images/generations"
PAGES = {
    "google/imagen-4.0-fast-generate-001": "imagen-4.0-fast-generate-001",
    "google/imagen-4.0-generate-001": "imagen-4.0-generate-001",
    "google/imagen-4.0-ultra-generate-001": "imagen-4.0-ultra-generate-001",
    "google/imagen4/preview": "imagen-4-preview",
    "imagen4/preview": "imagen-4-generate",
}


def page_of(body: dict[str, Any]) -> str:
    model = body.get("model")
    assert model in PAGES, f"sent a model id the AI/ML API does not document: {model!r}"
    return PAGES[model]


async def test_batchgen_sends_what_each_models_page_allows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """issue 12 point 1: models named Google's or fal's way are sent under the AI/ML API's ids."""
    monkeypatch.setenv(KEY_ENV, KEY)
    manifest = load(tmp_path, """
        version: 1
        provider: {kind: aimlapi}
        models: [imagen-4.0-fast-generate-001, fal-ai/imagen4/preview/ultra,
                 google/imagen-4.0-generate-001, google/imagen4/preview, imagen4/preview]
        aspect_ratios: ["1:1", "3:4", "4:3", "9:16", "16:9"]
        num_images: 2
        seeds: [0, 4294967295]
        prompts: [a lighthouse at dusk]
    """)  # fmt: skip
    async with recording_emulator() as emulator:
        provider = ProviderConfig(kind="aimlapi", base_url=emulator.base_url, api_key_env=KEY_ENV)
        manifest = dataclasses.replace(manifest, provider=provider)
        job = await run_job(manifest, RunOptions(out=tmp_path / "run"))
        sent = emulator.sent_to(PATH)
    assert job.result.status == "complete" and job.result.done == 50
    assert check_run_dir(job.run_dir) == 100
    assert len(sent) == 50
    for body in sent:
        request, _ = aimlapi_spec(page_of(body))
        assert problems(request, body) == [], body
    assert {body["model"] for body in sent} == set(PAGES)


async def test_params_pass_through_as_the_spec_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    manifest = load(tmp_path, """
        version: 1
        provider: {kind: aimlapi}
        models: [google/imagen-4.0-fast-generate-001]
        params: {enhance_prompt: false, person_generation: dont_allow,
                 safety_setting: block_only_high, add_watermark: true, convert_base64_to_url: false}
        prompts: [a fox in snow]
    """)  # fmt: skip
    async with recording_emulator() as emulator:
        provider = ProviderConfig(kind="aimlapi", base_url=emulator.base_url, api_key_env=KEY_ENV)
        job = await run_job(
            dataclasses.replace(manifest, provider=provider), RunOptions(out=tmp_path / "run")
        )
        (body,) = emulator.sent_to(PATH)
    assert job.result.done == 1
    request, _ = aimlapi_spec(page_of(body))
    assert problems(request, body) == []
    assert body["convert_base64_to_url"] is False


@pytest.mark.parametrize("model", sorted(PAGES))
@pytest.mark.parametrize("as_url", [True, False])
async def test_the_emulators_answers_validate_against_the_page(model: str, as_url: bool) -> None:
    _, response = aimlapi_spec(PAGES[model])
    body = {
        "model": model,
        "prompt": "a red kite",
        "num_images": 2,
        "convert_base64_to_url": as_url,
    }
    async with recording_emulator() as emulator, aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {KEY}"}
        async with session.post(emulator.base_url + PATH, json=body, headers=headers) as answer:
            assert answer.status == 200
            data = await answer.json()
    assert problems(response, data) == []
    if model != "google/imagen4/preview" or not as_url:  # the preview's URL answer is fal's shape
        assert len(data["data"]) == 2
        assert all((item["url"] is not None) == as_url for item in data["data"])
        assert all((item["b64_json"] is not None) != as_url for item in data["data"])
    if model == "imagen4/preview":  # issue 12 point 4: its page's shape and example
        assert data["meta"]["usage"] == {"credits_used": 240000, "usd_spent": 0.12}
        assert data["model"] == "imagen4/preview"


def spec_cases(model: str) -> list[tuple[str, dict[str, Any], bool]]:
    """Bodies at and past each limit the page states: (what, body, the spec allows it)."""
    request, _ = aimlapi_spec(PAGES[model])
    base: dict[str, Any] = {"model": model, "prompt": "p"}
    cases = [("minimal", base, True), ("unknown model", {**base, "model": "dall-e-3"}, False)]
    cases.append(("no prompt", {"model": model}, False))
    for name, rule in request["properties"].items():
        if name in ("model",):
            continue
        if "maxLength" in rule:
            longest = rule["maxLength"]
            cases += [(f"{name} at maxLength", {**base, name: "x" * longest}, True)]
            cases += [(f"{name} past maxLength", {**base, name: "x" * (longest + 1)}, False)]
        for value in rule.get("enum", []):
            cases.append((f"{name}={value}", {**base, name: value}, True))
        if "enum" in rule:
            cases.append((f"{name} not in enum", {**base, name: "2:1"}, False))
        if "maximum" in rule:
            cases.append((f"{name} at maximum", {**base, name: rule["maximum"]}, True))
            cases.append((f"{name} past maximum", {**base, name: rule["maximum"] + 1}, False))
        if "minimum" in rule:
            cases.append((f"{name} at minimum", {**base, name: rule["minimum"]}, True))
            cases.append((f"{name} below minimum", {**base, name: rule["minimum"] - 1}, False))
        if rule["type"] == ["boolean"] or rule["type"] == "boolean":
            cases.append((f"{name}=false", {**base, name: False}, True))
            cases.append((f"{name} not boolean", {**base, name: "yes"}, False))
    return cases


@pytest.mark.parametrize("model", sorted(PAGES))
async def test_bodies_the_spec_allows_or_forbids_are_answered_as_it_says(model: str) -> None:
    request, _ = aimlapi_spec(PAGES[model])
    async with recording_emulator() as emulator, aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {KEY}"}
        for what, body, allowed in spec_cases(model):
            assert (problems(request, body) == []) == allowed, what  # the case reads the spec
            async with session.post(emulator.base_url + PATH, json=body, headers=headers) as r:
                assert r.status == (200 if allowed else 400), (what, await r.text())
