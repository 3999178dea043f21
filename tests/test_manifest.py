"""Manifest v1: good manifests parse to the right records; every bad one says where and why."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchgen.errors import ManifestError
from batchgen.manifest import load_manifest, parse_manifest
from batchgen.manifest.schema import MANIFEST_SCHEMA, manifest_schema
from batchgen.manifest.schema_check import validate
from batchgen.manifest.sources import read_yaml
from batchgen.models import Limits, OutputConfig, PromptSpec, ProviderConfig

DATA = Path(__file__).parent / "data" / "manifests"
SOURCE = Path("jobs/x.yaml")
HEAD = "version: 1\nmodels: [google/imagen-4.0-fast-generate-001]\n"
FAST, STANDARD = "google/imagen-4.0-fast-generate-001", "google/imagen-4.0-generate-001"
JSON_SCHEMA = jsonschema.Draft202012Validator(MANIFEST_SCHEMA)


def problems_of(text: str, source: Path = SOURCE) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, source=source)
    return caught.value.problems


def only_problem(text: str) -> str:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    return problems[0]


def values_of(path: Path) -> Any:
    return read_yaml(path.read_text(encoding="utf-8")).value


# --- good manifests ---------------------------------------------------------------------------


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
    text = "version: 1\nmodels: google/imagen4/preview\nprompts: [" + "a" * 1000 + "]\n"
    assert parse_manifest(text, source=SOURCE).prompts[0].template == "a" * 1000


# --- one rule, one problem ----------------------------------------------------------------------

# (manifest text, the one expected problem after "jobs/x.yaml:")
SCHEMA_CASES = [  # structure: the JSON Schema says so too
    ("version: 2\nmodels: [m]\nprompts: [a]\n", "1:10: version: must be 1, got 2"),
    ("models: [m]\nprompts: [a]\n", "1:1: missing required key 'version'"),
    (
        HEAD + "aspect_ratio: ['1:1']\nprompts: [a]\n",
        "3:1: unknown key 'aspect_ratio'; did you mean 'aspect_ratios'?",
    ),
    (
        HEAD + "prompts: [a]\nlimits:\n  concurrency: 0\n",
        "5:16: limits.concurrency: must be an integer from 1 to 10000, got 0",
    ),
    (
        HEAD + "prompts: [a]\nlimits: {max_attempts: 101}\n",
        "4:24: limits.max_attempts: must be an integer from 1 to 100, got 101",
    ),
    (
        HEAD + "prompts: [a]\nlimits: {requests_per_minute: 0}\n",
        "4:31: limits.requests_per_minute: must be a number > 0 or null, got 0",
    ),
    (
        HEAD + "prompts: [a]\nlimits: {request_timeout_s: -1}\n",
        "4:29: limits.request_timeout_s: must be a number > 0, got -1",
    ),
    (
        HEAD + "prompts: [a]\nlimits: {rpm: 5}\n",
        "4:10: limits: unknown key 'rpm'; expected one of concurrency, requests_per_minute, "
        "request_timeout_s, max_attempts",
    ),
    (
        HEAD + "aspect_ratios: ['1:1', '2:1']\nprompts: [a]\n",
        "3:24: aspect_ratios[1]: '2:1' is not allowed; expected one of 1:1, 3:4, 4:3, 9:16, 16:9",
    ),
    (
        HEAD + "aspect_ratios: []\nprompts: [a]\n",
        "3:16: aspect_ratios: must be a non-empty list of unique aspect ratios, got []",
    ),
    (
        HEAD + "num_images: true\nprompts: [a]\n",
        "3:13: num_images: must be an integer from 1 to 4, got true",
    ),
    (
        HEAD + "num_images: 5\nprompts: [a]\n",
        "3:13: num_images: must be an integer from 1 to 4, got 5",
    ),
    (
        HEAD + "seeds: [1, 1]\nprompts: [a]\n",
        "3:12: seeds[1]: duplicate of seeds[0], got 1; expected each value once",
    ),
    (
        HEAD + "seeds: [4294967296]\nprompts: [a]\n",
        "3:9: seeds[0]: must be an integer from 0 to 4294967295, got 4294967296",
    ),
    (
        "version: 1\nmodels: []\nprompts: [a]\n",
        "2:9: models: must be a non-empty list of unique model ids, got []",
    ),
    (
        "version: 1\nmodels: 3\nprompts: [a]\n",
        "2:9: models: must be a model id or a non-empty list of unique model ids, got 3",
    ),
    (HEAD + "prompts: []\n", "3:10: prompts: must be a non-empty list of prompts, got []"),
    (HEAD + "prompts: ['  ']\n", "3:11: prompts[0]: must be non-empty prompt text, got '  '"),
    (
        HEAD + "prompts: [7]\n",
        "3:11: prompts[0]: must be a prompt string or a {template, vars} mapping, got 7",
    ),
    (
        HEAD + "name: a b\nprompts: [a]\n",
        "3:7: name: must be letters, digits, '.', '_' or '-' (at most 100 characters), "
        "not '.' or '..', got 'a b'",
    ),
    (HEAD + "name: " + "n" * 101 + "\nprompts: [a]\n", "3:7: name: must be letters"),
    (
        HEAD + "budget: {max_usd: 0}\nprompts: [a]\n",
        "3:19: budget.max_usd: must be a number > 0, got 0",
    ),
    (HEAD + "budget: {}\nprompts: [a]\n", "3:9: budget: missing required key 'max_usd'"),
    (
        HEAD + "params: {seed: 3}\nprompts: [a]\n",
        "3:16: params.seed: set by batchgen from seeds; remove it from params",
    ),
    (
        HEAD + "params: {prompt: x}\nprompts: [a]\n",
        "3:18: params.prompt: set by batchgen from prompts",
    ),
    (
        HEAD + "provider: {api_key: sk-123}\nprompts: [a]\n",
        "3:21: provider.api_key: keys are never read from the manifest; put the key in an "
        "environment variable and name it in api_key_env",
    ),
    (
        HEAD + "provider: {kind: aimlapi, time_scale: 0}\nprompts: [a]\n",
        "3:39: provider.time_scale: only the built-in emulator takes time_scale; "
        "remove it or use kind: emulator",
    ),
    (
        HEAD + "provider: {kind: replicate}\nprompts: [a]\n",
        "3:18: provider.kind: 'replicate' is not allowed; "
        "expected one of emulator, aimlapi, gemini, openai, fal",
    ),
    (
        HEAD + "provider: {base_url: 'ftp://x'}\nprompts: [a]\n",
        "3:22: provider.base_url: must be an http(s) URL: http(s)://host[:port][/path], got 'ftp://x'",
    ),
    (
        HEAD + "provider: {api_key_env: my-key}\nprompts: [a]\n",
        "3:25: provider.api_key_env: must be an environment variable name like AIMLAPI_API_KEY",
    ),
    (
        HEAD + "provider: {image_bytes: 999}\nprompts: [a]\n",
        "3:25: provider.image_bytes: must be an integer from 30000 to 3000000, got 999",
    ),
    (
        HEAD + "provider: {image_bytes: huge}\nprompts: [a]\n",
        "3:25: provider.image_bytes: 'huge' is not allowed; expected one of small, realistic",
    ),
    (
        HEAD + "provider: {rmp: 5}\nprompts: [a]\n",
        "3:12: provider: unknown key 'rmp'; did you mean 'rpm'?",
    ),
    (
        HEAD + "prompts: [{template: ''}]\n",
        "3:22: prompts[0].template: must be non-empty template text, got ''",
    ),
    (
        HEAD + "prompts: [{template: '{x}', vars: {x: []}}]\n",
        "3:39: prompts[0].vars.x: must be a non-empty list of strings or numbers, got []",
    ),
    (
        HEAD + "prompts: [{template: '{x}', vars: {x: [true]}}]\n",
        "3:40: prompts[0].vars.x[0]: must be a string or a number, got true",
    ),
    (
        HEAD + "prompts: [{template: '{x}', vars: {x: {csv: a.csv}}}]\n",
        "3:39: prompts[0].vars.x: missing required key 'column'",
    ),
    (
        HEAD + "prompts: [{template: '{x}', vars: {x: [1], a b: [1]}}]\n",
        "3:44: prompts[0].vars: 'a b' is not a name",
    ),
    (
        HEAD + "prompts: [{template: x, varz: {}}]\n",
        "3:25: prompts[0]: unknown key 'varz'; did you mean 'vars'?",
    ),
]
SEMANTIC_CASES = [  # rules across keys, templates, limits the schema cannot say
    (
        HEAD + "prompts: ['" + "x" * 401 + "']\n",
        "3:11: prompts[0]: prompt is 401 characters; the AI/ML API accepts at most 400",
    ),
    (
        HEAD + "fallback: {other: x}\nprompts: [a]\n",
        "3:12: fallback: 'other' is not one of models; expected one of " + FAST,
    ),
    (
        HEAD + f"fallback: {{{FAST}: {FAST}}}\nprompts: [a]\n",
        "3:49: fallback['google/imagen-4.0-fast-generate-001']: falls back to itself, got "
        f"'{FAST}'; expected another model",
    ),
    (
        "version: 1\nmodels: [a, b]\nfallback: {a: b, b: a}\nprompts: [x]\n",
        "3:12: fallback: fallback cycle a -> b -> a; expected a chain that ends",
    ),
    # templates
    (
        HEAD + "prompts: [{template: 'a {x}'}]\n",
        "3:22: prompts[0].template: placeholder {x} has no var; add x under vars, "
        "or write {{x}} for literal braces",
    ),
    (
        HEAD + "prompts: [{template: 'a', vars: {x: [1]}}]\n",
        "3:34: prompts[0].vars: var 'x' is not used; expected a {x} placeholder in the template",
    ),
    (
        HEAD + "prompts: [{template: 'a {x:>9}', vars: {x: [1]}}]\n",
        "3:22: prompts[0].template: placeholder {x:>9} has a format spec or conversion; "
        "expected {x}",
    ),
    (
        HEAD + "prompts: [{template: 'a {x!r}', vars: {x: [1]}}]\n",
        "3:22: prompts[0].template: placeholder {x!r} has a format spec or conversion",
    ),
    (
        HEAD + "prompts: [{template: 'a {0}'}]\n",
        "3:22: prompts[0].template: placeholder {0} is not a name; expected {name}, "
        "or {{ }} for braces",
    ),
    (HEAD + "prompts: [{template: 'a {}'}]\n", "3:22: prompts[0].template: placeholder {} is not"),
    (
        HEAD + "prompts: [{template: 'a {x.y}', vars: {x: [1]}}]\n",
        "3:22: prompts[0].template: placeholder {x.y} is not a name",
    ),
    (
        HEAD + "prompts: [{template: 'a {x'}]\n",
        "3:22: prompts[0].template: expected '}' before end of string; write {{ and }} for literal",
    ),
    (
        HEAD + "prompts: [{template: '{x} and {x}', vars: {x: ['" + "y" * 199 + "']}}]\n",
        "3:22: prompts[0].template: the longest expansion is 403 characters (with x='yyy",
    ),
    # output
    (
        HEAD + "prompts: [a]\noutput: {dir: 'out/{model}'}\n",
        "4:15: output.dir: placeholder {model} is not allowed; expected {name}",
    ),
    (
        HEAD + "prompts: [a]\noutput: {filename: '{task_id}.{ext}/{taskid}'}\n",
        "4:20: output.filename: placeholder {taskid} is not allowed; did you mean {task_id}? "
        "expected {model}, {aspect}, {prompt_slug}, {task_id}, {index}, {ext}, {seed}, {name}",
    ),
    (
        HEAD + "prompts: [a]\noutput: {filename: '{model}.{ext}'}\n",
        "4:20: output.filename: must contain {task_id} "
        "(or tasks would overwrite each other's files)",
    ),
    (
        HEAD + "prompts: [a]\noutput: {filename: '{task_id}.png'}\n",
        "4:20: output.filename: must contain {ext} (the image type is known only when it "
        "arrives), got '{task_id}.png'",
    ),
    (
        HEAD + "num_images: 2\nprompts: [a]\noutput: {filename: '{task_id}.{ext}'}\n",
        "5:20: output.filename: must contain {index} (num_images is 2: every image needs its "
        "own file)",
    ),
    (
        HEAD + "prompts: [a]\noutput: {filename: '../{task_id}.{ext}'}\n",
        "4:20: output.filename: must be a relative path without '..', got '../{task_id}.{ext}'; "
        "expected a path inside the output directory",
    ),
    (
        HEAD + "prompts: [a]\noutput: {filename: '/tmp/{task_id}.{ext}'}\n",
        "4:20: output.filename: must be a relative path",
    ),
]
YAML_CASES = [  # the YAML itself
    (
        HEAD + "prompts: [a\n",
        "4:1: YAML syntax: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence on line 3)",
    ),
    (
        HEAD + "prompts: [a]\n---\nversion: 1\n",
        "5:1: YAML syntax: a manifest is one YAML document; a second one starts here",
    ),
    ("a: b: c\n", "1:5: YAML syntax: mapping values are not allowed here"),
    ("", "1:1: the manifest is empty; expected a mapping with version, models and prompts"),
    (
        "- a\n- b\n",
        "1:1: the manifest must be a mapping (version, models, prompts, ...), got ['a', 'b']",
    ),
    (
        HEAD + "prompts: [a]\nparams: {1: x}\n",
        "4:10: params: key '1' is read as an integer; quote it",
    ),
    (
        HEAD + "prompts: [a]\nparams: {yes: x}\n",
        "4:10: params: key 'yes' is read as a boolean; quote it",
    ),
    (HEAD + "prompts: [a]\nparams: {[1]: x}\n", "4:10: params: keys must be text, got !!seq"),
    (
        HEAD + "limits: {<<: {concurrency: 3}}\nprompts: [a]\n",
        "3:10: limits: merge keys ('<<') are not supported; write the keys out",
    ),
    (HEAD + "prompts: [!!binary aGVsbG8=]\n", "3:11: prompts[0]: unsupported YAML tag !!binary"),
    (HEAD + "prompts: [!custom a]\n", "3:11: prompts[0]: unsupported YAML tag !custom"),
    (HEAD + "prompts: [a]\nparams: {n: " + "9" * 5000 + "}\n", "4:13: params.n: cannot read"),
    (
        HEAD + "prompts: [a]\nparams: {n: !!bool maybe}\n",
        "4:13: params.n: cannot read 'maybe' as !!bool",
    ),
    (HEAD + "prompts: [a]\nparams: {n: !!int ''}\n", "4:13: params.n: cannot read '' as !!int"),
    (HEAD + "prompts: [a]\nx: &x [*x]\n", "4:4: nested more than 64 levels deep"),
]
CASES = SCHEMA_CASES + SEMANTIC_CASES + YAML_CASES


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_each_rule_names_place_key_and_expectation(text: str, expected: str) -> None:
    assert only_problem(text).startswith(f"{SOURCE}:{expected}")


def test_several_problems_are_all_reported_in_file_order() -> None:
    source = DATA / "many_problems.yaml"
    with pytest.raises(ManifestError) as caught:
        load_manifest(source)
    assert [line.split(": ", 2)[:2] for line in caught.value.problems] == [
        [f"{source}:1:10", "version"],
        [f"{source}:2:1", "unknown key 'aspect_ratio'; did you mean 'aspect_ratios'?"],
        [f"{source}:5:12", "provider.api_key"],
        [f"{source}:6:8", "provider.rpm"],
        [f"{source}:8:24", "aspect_ratios[1]"],
        [f"{source}:9:13", "num_images"],
        [f"{source}:10:23", "limits.concurrency"],
        [f"{source}:12:15", "prompts[0].template"],
    ]
    assert "sk-not-a-real-key" not in str(caught.value)  # a key is never echoed back


def test_csv_problems_are_located_at_the_csv_entry() -> None:
    source = DATA / "csv_problems.yaml"
    with pytest.raises(ManifestError) as caught:
        load_manifest(source)
    missing, column = caught.value.problems
    assert missing.startswith(
        f"{source}:6:22: prompts[0].vars.product.csv: cannot read "
        f"{DATA / 'missing.csv'}: No such file or directory; expected"
    )
    assert column == (
        f"{source}:7:44: prompts[0].vars.surface.column: no column 'nmae' in "
        f"{DATA / 'products.csv'}; did you mean 'name'? "
        "expected one of sku, name, price"
    )


def test_csv_column_without_values(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("name\n\n  \n", encoding="utf-8")
    text = HEAD + "prompts: [{template: '{x}', vars: {x: {csv: empty.csv, column: name}}}]\n"
    (problem,) = problems_of(text, source=tmp_path / "x.yaml")
    assert ":3:64: prompts[0].vars.x.column: column 'name' of " in problem
    assert problem.endswith("has no values; expected at least one")


def test_csv_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "latin.csv").write_bytes("name\ncaf\xe9\n".encode("latin-1"))
    text = HEAD + "prompts: [{template: '{x}', vars: {x: {csv: latin.csv, column: name}}}]\n"
    (problem,) = problems_of(text, source=tmp_path / "x.yaml")
    assert ":3:45: prompts[0].vars.x.csv: cannot read " in problem
    assert "can't decode byte 0xe9" in problem


def test_duplicate_keys_are_located_at_the_second_key() -> None:
    source = DATA / "duplicate_keys.yaml"
    with pytest.raises(ManifestError) as caught:
        load_manifest(source)
    assert caught.value.problems == [
        f"{source}:5:3: limits: duplicate key 'concurrency' (first on line 4)",
        f"{source}:7:1: duplicate key 'models' (first on line 2)",
    ]


def test_python_tags_are_rejected_without_running(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(os, "system", calls.append)
    source = DATA / "python_tag.yaml"
    with pytest.raises(ManifestError) as caught:
        load_manifest(source)
    assert caught.value.problems == [
        f"{source}:3:7: name: unsupported YAML tag !!python/object/apply:os.system; "
        "expected plain text, numbers, true/false, lists and mappings"
    ]
    assert calls == []


def test_alias_bomb_is_rejected_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(ManifestError) as caught:
        load_manifest(DATA / "alias_bomb.yaml")
    assert time.perf_counter() - started < 2
    (problem,) = caught.value.problems
    assert "too many nodes (alias expansion?)" in problem


def test_unreadable_files() -> None:
    with pytest.raises(ManifestError, match=r"nope\.yaml: cannot read the manifest: No such file"):
        load_manifest(DATA / "nope.yaml")


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(b"version: 1\nname: caf\xe9\n")
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert caught.value.problems == [f"{path}:2:10: not UTF-8 text (byte 0xe9); save it as UTF-8"]


def test_oversized_manifest(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(HEAD + "prompts: [a]\n" + "#" * (5 * 2**20), encoding="utf-8")
    with pytest.raises(ManifestError, match="over 4 MB"):
        load_manifest(path)
    assert "over 4 MB" in only_problem("#" * (5 * 2**20))


def test_control_characters_are_located() -> None:
    assert only_problem(HEAD + "prompts: [a\x00]\n").startswith(f"{SOURCE}:3:12: YAML syntax:")


# --- the schema is the structure --------------------------------------------------------------


def test_schema_is_valid_draft_2020_12_and_handed_out_as_a_copy() -> None:
    jsonschema.Draft202012Validator.check_schema(MANIFEST_SCHEMA)
    copy = manifest_schema()
    copy["properties"].clear()
    assert MANIFEST_SCHEMA["properties"]["version"] == {"type": "integer", "const": 1}


@pytest.mark.parametrize("name", ["minimal.yaml", "full.yaml", "csv_template.yaml"])
def test_good_fixtures_pass_jsonschema(name: str) -> None:
    JSON_SCHEMA.validate(values_of(DATA / name))


@pytest.mark.parametrize("name", ["many_problems.yaml", "duplicate_keys.yaml"])
def test_bad_fixtures_fail_jsonschema(name: str) -> None:
    values = values_of(DATA / name)
    if name == "duplicate_keys.yaml":  # YAML keeps the first value; make the duplicate visible
        values["limits"]["concurrency"] = 0
    assert not JSON_SCHEMA.is_valid(values)


@pytest.mark.parametrize(("text", "expected"), SCHEMA_CASES)
def test_structural_problems_fail_jsonschema_too(text: str, expected: str) -> None:
    values = read_yaml(text).value
    assert validate(values, MANIFEST_SCHEMA)
    assert not JSON_SCHEMA.is_valid(values)


@pytest.mark.parametrize(("text", "expected"), SEMANTIC_CASES)
def test_semantic_problems_pass_the_schema(text: str, expected: str) -> None:
    assert validate(read_yaml(text).value, MANIFEST_SCHEMA) == []


# --- nothing but a Manifest or a ManifestError, whatever comes in -------------------------------

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
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False)
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "version",
        "name",
        "provider",
        "models",
        "fallback",
        "aspect_ratios",
        "num_images",
        "seeds",
        "params",
        "prompts",
        "limits",
        "budget",
        "output",
    ]
)
FUZZ = settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])


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


@FUZZ
@given(st.dictionaries(KEYS, JSONISH, max_size=6))
def test_fuzz_validator_agrees_with_jsonschema(changes: dict[str, Any]) -> None:
    values = {**values_of(DATA / "full.yaml"), **changes}
    assert (not validate(values, MANIFEST_SCHEMA)) == JSON_SCHEMA.is_valid(values)


# --- warnings: valid, but probably not what was meant ------------------------------------------


def test_known_models_give_no_warning_and_an_unknown_one_is_located() -> None:
    assert load_manifest(DATA / "full.yaml").warnings == ()
    text = HEAD.replace(FAST, f"{FAST}, google/imagen-4.0-ultra-generate-01") + "prompts: [x]\n"
    (warning,) = parse_manifest(text, source=SOURCE).warnings
    assert warning == (
        f"{SOURCE}:2:47: models[1]: unknown model 'google/imagen-4.0-ultra-generate-01'; "
        "did you mean 'google/imagen-4.0-ultra-generate-001'? (sent as written otherwise)"
    )
