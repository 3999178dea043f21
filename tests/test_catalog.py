"""The per-model facts: the client's catalog and the emulator's own profiles agree on every fact
they share, and a manifest asking a model for what it cannot do fails with a located message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from batchgen import catalog, pricing
from batchgen.emulator import aimlapi as emulated_aimlapi
from batchgen.emulator import google, lineup, profiles
from batchgen.errors import ManifestError
from batchgen.expand import expand, task_id
from batchgen.manifest.load import parse_manifest
from batchgen.plan import make_plan

SOURCE = Path("jobs/x.yaml")
FAST, ULTRA = catalog.FAST, catalog.ULTRA
EMULATED = {"gemini": lineup.GOOGLE, "openai": lineup.OPENAI, "fal": lineup.FAL}


def offerings(kind: str) -> list[catalog.Offering]:
    return [model.offerings[kind] for model in catalog.MODELS if kind in model.offerings]


# DESIGN.md keeps the emulator free of client code, so the facts are written twice, on purpose;
# these tests are what keeps the two copies one truth.
@pytest.mark.parametrize("kind", sorted(EMULATED))
def test_catalog_and_emulator_agree_on_every_shared_fact(kind: str) -> None:
    listings = EMULATED[kind]
    ours = {offering.model: offering for offering in offerings(kind)}
    assert set(ours) == set(listings), "a model only one side knows"
    for name, offering in ours.items():
        listing = listings[name]
        assert offering.price("1K") == listing.usd_for("1K"), name
        assert offering.price("2K") == listing.usd_for("2K"), name
        assert offering.max_images == listing.max_images, name
        assert {r: dict(t) for r, t in offering.sizes.items()} == listing.sizes, name
        assert offering.seed == listing.seed, name
        assert offering.prompt_chars == listing.prompt_chars, name
        assert offering.prompt_tokens == listing.prompt_tokens, name
        assert offering.method == listing.method, name
        assert offering.url_output == listing.url_output, name
        if kind == "openai":  # every size batchgen derives is one the model accepts
            derived = {size for table in offering.sizes.values() for size in table.values()}
            assert derived <= set(listing.accepted_sizes), name


def test_catalog_and_emulator_agree_on_what_the_gemini_api_refuses() -> None:
    assert catalog.GEMINI_API_REFUSES == google.VERTEX_ONLY


def test_catalog_and_emulator_agree_on_the_aimlapi_models() -> None:
    ours = {offering.model: offering for offering in offerings("aimlapi")}
    assert set(ours) == set(profiles.MODELS)
    for name, offering in ours.items():
        profile = profiles.MODELS[name]
        assert offering.price() == pytest.approx(profile.credits_per_image / 2_000_000), name
        assert offering.prompt_chars == profile.max_prompt_chars, name
        assert offering.max_images == emulated_aimlapi.MAX_NUM_IMAGES, name
        assert offering.sizes == {"1K": profiles.ASPECT_SIZES}, name
        assert offering.seed, name
    for name in profiles.SAME_MODEL:  # two ids of one model: each its own offering
        assert catalog.wire_model("aimlapi", name) == name


def test_a_manifest_names_a_model_the_way_any_provider_does() -> None:
    assert catalog.wire_model("gemini", FAST) == "imagen-4.0-fast-generate-001"
    assert catalog.wire_model("fal", FAST) == "fal-ai/imagen4/preview/fast"
    assert catalog.wire_model("aimlapi", "imagen-4.0-fast-generate-001") == FAST
    assert catalog.wire_model("aimlapi", "fal-ai/imagen4/preview/fast") == FAST
    assert catalog.wire_model("aimlapi", "fal-ai/imagen4/preview/ultra") == ULTRA
    assert catalog.wire_model("aimlapi", "imagen4/preview") == "imagen4/preview"
    assert catalog.wire_model("openai", "some-gateway/model") == "some-gateway/model"


def test_prices_and_plans_follow_the_provider() -> None:
    assert pricing.price_per_image(FAST) == 0.021  # the AI/ML API, the emulator's default
    assert pricing.price_per_image(FAST, kind="gemini") == 0.02
    assert (
        pricing.worst_case_usd("gemini-3.1-flash-image", 1, kind="gemini", resolution="2K") == 0.101
    )
    assert pricing.price_per_image("unknown/model", kind="openai") is None
    manifest = parse_manifest(
        f"version: 1\nprovider: {{kind: fal}}\nmodels: [{ULTRA}]\n"
        "resolution: 2K\nprompts: [a, b]\n",
        source=SOURCE,
    )
    assert make_plan(manifest).cost_usd == pytest.approx(2 * 0.06)


def test_resolution_changes_task_ids_only_when_it_is_not_the_default() -> None:
    base: dict[str, Any] = {
        "model": FAST,
        "prompt": "p",
        "aspect_ratio": "1:1",
        "seed": None,
        "num_images": 1,
        "params": {},
    }
    assert task_id(**base, resolution="1K") == task_id(**base)  # ids of old runs stay valid
    assert task_id(**base, resolution="2K") != task_id(**base)
    manifest = parse_manifest(
        "version: 1\nprovider: {kind: gemini}\nmodels: [imagen-4.0-generate-001]\n"
        "resolution: 2K\nprompts: [a]\n",
        source=SOURCE,
    )
    (task,) = expand(manifest)
    assert task.resolution == "2K"


def problems_of(text: str) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, source=SOURCE)
    return caught.value.problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "provider: {kind: gemini}\nmodels: [imagen-4.0-ultra-generate-preview-06-06]\n"
            "num_images: 4\n",
            "jobs/x.yaml:4:13: num_images: 4 is more than imagen-4.0-ultra-generate-preview-06-06"
            " on gemini makes per request; expected at most 1",
        ),
        (
            f"provider: {{kind: fal}}\nmodels: [{ULTRA}]\nnum_images: 2\n",
            f"jobs/x.yaml:4:13: num_images: 2 is more than {ULTRA} on fal makes per request; "
            "expected at most 1",
        ),
        (
            f"provider: {{kind: gemini}}\nmodels: [{FAST}]\nseeds: [1, 2]\n",
            f"jobs/x.yaml:4:8: seeds: {FAST} on gemini takes no seed; remove seeds or choose "
            "another model",
        ),
        (
            f"provider: {{kind: gemini}}\nmodels: [{FAST}]\nresolution: 2K\n",
            f"jobs/x.yaml:4:13: resolution: {FAST} on gemini makes 1K only, got '2K'",
        ),
        (
            f"models: [{FAST}]\nresolution: 2K\n",
            f"jobs/x.yaml:3:13: resolution: {FAST} on aimlapi makes 1K only, got '2K'",
        ),
        (
            "provider: {kind: openai}\nmodels: [gpt-image-1.5]\naspect_ratios: ['1:1', '16:9']\n",
            "jobs/x.yaml:4:24: aspect_ratios[1]: gpt-image-1.5 on openai makes 1:1 at 1K, "
            "got '16:9'; expected one of those (or params.size to choose the pixels)",
        ),
        (
            "provider: {kind: openai}\nmodels: [gpt-image-2]\nparams: {response_format: url}\n",
            "jobs/x.yaml:4:27: params.response_format: gpt-image-2 on openai always answers "
            "base64; remove response_format",
        ),
        (
            "provider: {kind: gemini}\nmodels: [gpt-image-2]\n",
            "jobs/x.yaml:3:10: models[0]: gpt-image-2 is not sold by provider kind gemini; "
            "expected a model it sells, or provider.kind openai",
        ),
        (
            "provider: {kind: emulator, dialect: gemini}\nmodels: [imagen-4.0-fast-generate-001]\n"
            "seeds: 3\n",
            "jobs/x.yaml:4:8: seeds: imagen-4.0-fast-generate-001 on gemini takes no seed",
        ),
        (  # issue 12 point 3: the openai SDK 3.57 lineup (types/image_model.py)
            "provider: {kind: openai}\nmodels: [dall-e-3]\n",
            "jobs/x.yaml:3:10: models[0]: dall-e-3 was retired by openai on 2026-05-12 "
            "(openai SDK 3.57); expected its successor: gpt-image-2",
        ),
        (
            "provider: {kind: emulator, dialect: openai}\nmodels: [gpt-image-2, gpt-image-1]\n",
            "jobs/x.yaml:3:23: models[1]: gpt-image-1 was retired by openai on 2026-10-23 "
            "(openai SDK 3.57); expected its successor: gpt-image-2.5-sunburst or "
            "gpt-image-2.5-flare",
        ),
        (
            "provider: {kind: openai}\nmodels: [dall-e-2]\n",
            "models[0]: dall-e-2 was retired by openai on 2026-05-12",
        ),
        (
            "provider: {kind: openai}\nmodels: [gpt-image-1.5]\nprompts: ['" + "x" * 32001 + "']\n",
            "prompts[0]: prompt is 32001 characters; gpt-image-1.5 on openai accepts at most 32000",
        ),
        (  # issue 12 point 2: imagen-4-preview.json at f14fa72f, maxLength 400
            "provider: {kind: aimlapi}\nmodels: [google/imagen4/preview]\nprompts: ['"
            + "x" * 401
            + "']\n",
            "prompts[0]: prompt is 401 characters",
        ),
        (
            f"provider: {{kind: gemini}}\nmodels: [{FAST}]\nparams: {{enhance_prompt: false}}\n",
            f"params.enhance_prompt: {FAST} on gemini takes no enhance_prompt on the Gemini API "
            "(Vertex AI only); remove it",
        ),
        (
            "provider: {kind: fal, dialect: fal}\nmodels: [x]\n",
            "provider.dialect: only the built-in emulator takes dialect",
        ),
    ],
)
def test_asking_a_model_for_what_it_cannot_do_is_a_located_problem(
    text: str, expected: str
) -> None:
    if "prompts:" not in text:
        text += "prompts: [a]\n"
    problems = problems_of("version: 1\n" + text)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    "text",
    [
        "provider: {kind: gemini}\n"
        "models: [imagen-4.0-generate-001]\nresolution: 2K\nnum_images: 4\n",
        f"provider: {{kind: fal}}\nmodels: [{ULTRA}]\nresolution: 2K\nseeds: [1]\n",
        "provider: {kind: openai}\n"
        "models: [gpt-image-2]\naspect_ratios: ['16:9', '3:4']\nresolution: 2K\n",
        "provider: {kind: openai}\n"
        "models: [gpt-image-1.5]\naspect_ratios: ['16:9']\nparams: {size: 1536x1024}\n",
        "provider: {kind: openai}\nmodels: [gpt-image-2.5-flare, chatgpt-image-latest]\n",
        "provider: {kind: aimlapi}\nmodels: [imagen4/preview]\nprompts: ['" + "x" * 1000 + "']\n",
        "provider: {kind: aimlapi}\nmodels: [imagen-4.0-fast-generate-001, "
        "fal-ai/imagen4/preview/ultra]\n",
        "provider: {kind: openai}\nmodels: [a-gateway/model]\nseeds: [1]\nresolution: 2K\n",
        "provider: {kind: emulator, dialect: fal}\n"
        "models: [google/imagen4/preview]\nresolution: 2K\n",
    ],
)
def test_what_a_model_can_do_passes(text: str) -> None:
    prompts = "" if "prompts:" in text else "prompts: [a]\n"
    parse_manifest(f"version: 1\n{text}{prompts}", source=SOURCE)
