"""Manifest v1 loading: good manifests parse to the right records, warnings are located, and
whatever comes in yields a Manifest or a ManifestError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from batchgen.errors import ManifestError
from batchgen.manifest.load import load_manifest, parse_manifest
from batchgen.models import Limits, OutputConfig, PromptSpec, ProviderConfig
from tests.manifest_cases import DATA, FAST, FUZZ, HEAD, JSONISH, KEYS, SOURCE, STANDARD, values_of


def test_minimal_manifest_takes_every_default() -> None:
    manifest = load_manifest(DATA / "minimal.yaml")
    assert manifest.name == "minimal"
    assert manifest.models == (FAST,)
    assert manifest.prompts == (PromptSpec("Racoon eating ice-cream"),)
    assert manifest.provider == ProviderConfig(kind="emulator")
    assert manifest.aspect_ratios == ("1:1",)
    assert (manifest.num_images, manifest.seeds, manifest.max_usd) == (1, (), None)
    assert (manifest.fallback, manifest.params) == ({}, {})
    assert manifest.limits == Limits()
    assert manifest.output == OutputConfig()
    assert manifest.source == DATA / "minimal.yaml"


def test_full_manifest_sets_every_key() -> None:
    manifest = load_manifest(DATA / "full.yaml")
    assert manifest.name == "spring-thumbnails"
    assert manifest.provider == ProviderConfig(
        kind="emulator",
        base_url="http://127.0.0.1:8080/v1",
        api_key_env="EMULATOR_KEY",
        options={
            "time_scale": 0.02,
            "rpm": 120.0,
            "max_concurrency": 8,
            "image_bytes": 30000,
            "faults": "429=0.05,500=0.02",
            "seed": 7,
        },
    )
    assert manifest.models == (FAST, STANDARD)
    assert manifest.fallback == {FAST: STANDARD}
    assert manifest.aspect_ratios == ("1:1", "16:9")
    assert (manifest.num_images, manifest.seeds) == (2, (1, 2))
    assert manifest.params == {"enhance_prompt": False, "style": {"mood": "calm"}}
    assert manifest.prompts == (
        PromptSpec("Racoon eating ice-cream {braces are literal here}"),
        PromptSpec(
            "Studio photo of {product}, {style}, {{plain}} background",
            (("product", ("mug", "42", "1.5")), ("style", ("minimal", "vivid"))),
            is_template=True,
        ),
    )
    assert manifest.limits == Limits(
        concurrency=32, requests_per_minute=90.5, request_timeout_s=60.0, max_attempts=3
    )
    assert manifest.max_usd == 25.0
    assert manifest.output == OutputConfig(
        dir="renders/{name}",
        filename="{model}/{aspect}/{style}-{prompt_slug}-{task_id}-{index}-{seed}.{ext}",
    )


def test_csv_column_feeds_a_template_var() -> None:
    manifest = load_manifest(DATA / "csv_template.yaml")
    # BOM and CRLF are fine; empty cells skipped, cells trimmed, repeats kept once
    assert manifest.prompts == (
        PromptSpec(
            "Studio photo of {product}, {style}, plain white background",
            (("product", ("Red mug", "Tea pot, blue", "Lamp")), ("style", ("minimal", "vivid"))),
            is_template=True,
        ),
    )


def test_aimlapi_provider_defaults() -> None:
    manifest = parse_manifest(HEAD + "provider: {kind: aimlapi}\nprompts: [a]\n", source=SOURCE)
    assert manifest.provider == ProviderConfig(
        kind="aimlapi", base_url="https://api.aimlapi.com", api_key_env="AIMLAPI_API_KEY"
    )


def test_single_values_stand_for_one_item_lists() -> None:
    text = HEAD + "aspect_ratios: 9:16\nseeds: 7\nprompts: [a]\n"
    manifest = parse_manifest(text, source=SOURCE)
    assert (manifest.aspect_ratios, manifest.seeds) == (("9:16",), (7,))


def test_default_name_is_the_file_stem_made_safe() -> None:
    manifest = parse_manifest(HEAD + "prompts: [a]\n", source=Path("jobs/spring sale!.yaml"))
    assert manifest.name == "spring-sale"


def test_template_without_placeholders_or_vars_is_allowed() -> None:
    manifest = parse_manifest(HEAD + "prompts: [{template: plain text}]\n", source=SOURCE)
    assert manifest.prompts == (PromptSpec("plain text", (), is_template=True),)


def test_preview_model_takes_longer_prompts() -> None:
    # imagen4/preview's page states no maxLength; google/imagen4/preview's now says 400
    text = "version: 1\nmodels: imagen4/preview\nprompts: [" + "a" * 1000 + "]\n"
    assert parse_manifest(text, source=SOURCE).prompts[0].template == "a" * 1000


# --- warnings: valid, but probably not what was meant ---------------------------------------------


def test_known_models_give_no_warning_and_an_unknown_one_is_located() -> None:
    assert load_manifest(DATA / "full.yaml").warnings == ()
    text = HEAD.replace(FAST, f"{FAST}, google/imagen-4.0-ultra-generate-01") + "prompts: [x]\n"
    (warning,) = parse_manifest(text, source=SOURCE).warnings
    assert warning == (
        f"{SOURCE}:2:47: models[1]: unknown model 'google/imagen-4.0-ultra-generate-01'; "
        "did you mean 'google/imagen-4.0-ultra-generate-001'? (sent as written otherwise)"
    )


# --- nothing but a Manifest or a ManifestError, whatever comes in ---------------------------------

TOKENS = [
    "version: 1\n",
    "models: ",
    "prompts:",
    "\n- ",
    "template: ",
    "vars:",
    "{x}",
    "csv: ",
    "[",
    "]",
    "{",
    "}",
    ",",
    ": ",
    "&a ",
    "*a ",
    "!!python/name:os.system ",
    "<<: ",
    "? ",
    "|\n",
    "'",
    '"',
    "---\n",
    "1:30",
    "~",
    "1e999",
    ".nan",
    "0x1F",
    "  ",
    "\n",
    "\t",
    "#",
    "!!int ",
    "!!bool ",
    "!!float ",
    "!!null ",
    "!!str ",
    "!!timestamp ",
    "!!map ",
    "!!seq ",
]


def assert_manifest_or_error(text: str) -> None:
    try:
        parse_manifest(text, source=Path("fuzz/x.yaml"))
    except ManifestError as exc:
        assert exc.problems and all(p.startswith("fuzz/x.yaml") for p in exc.problems)


@FUZZ
@given(st.text(max_size=200) | st.lists(st.sampled_from(TOKENS), max_size=30).map("".join))
def test_fuzz_random_text(text: str) -> None:
    assert_manifest_or_error(text)


@FUZZ
@given(st.dictionaries(KEYS, JSONISH, max_size=6))
def test_fuzz_random_structures(changes: dict[str, Any]) -> None:
    values = {**values_of(DATA / "full.yaml"), **changes}
    assert_manifest_or_error(yaml.safe_dump(values, allow_unicode=True))
