"""The manifest's JSON Schema is the structure: valid Draft 2020-12, handed out as a copy, and
our own validator agrees with jsonschema on every case and on random structures."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchgen.manifest.schema import MANIFEST_SCHEMA, manifest_schema
from batchgen.manifest.schema_check import validate
from batchgen.manifest.sources import read_yaml
from tests.manifest_cases import (
    DATA,
    FUZZ,
    JSONISH,
    KEYS,
    SCHEMA_CASES,
    SEMANTIC_CASES,
    values_of,
)

JSON_SCHEMA = jsonschema.Draft202012Validator(MANIFEST_SCHEMA)


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


@FUZZ
@given(st.dictionaries(KEYS, JSONISH, max_size=6))
def test_fuzz_validator_agrees_with_jsonschema(changes: dict[str, Any]) -> None:
    values = {**values_of(DATA / "full.yaml"), **changes}
    assert (not validate(values, MANIFEST_SCHEMA)) == JSON_SCHEMA.is_valid(values)
