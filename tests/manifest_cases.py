"""Shared by the manifest tests: the fixtures' folder, parse helpers, and the rule tables
(one manifest text, the one problem it must produce)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from batchgen.errors import ManifestError
from batchgen.manifest.load import parse_manifest
from batchgen.manifest.sources import read_yaml

DATA = Path(__file__).parent / "data" / "manifests"
SOURCE = Path("jobs/x.yaml")
HEAD = "version: 1\nmodels: [google/imagen-4.0-fast-generate-001]\n"
FAST, STANDARD = "google/imagen-4.0-fast-generate-001", "google/imagen-4.0-generate-001"


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


# Random manifest parts for the fuzz tests (load and schema).
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
