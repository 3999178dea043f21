"""Manifest checks: each rule names the place, the key and what was expected; several problems
are all reported in file order; CSV sources are checked where they are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchgen.errors import ManifestError
from batchgen.manifest.load import load_manifest
from tests.manifest_cases import CASES, DATA, HEAD, SOURCE, only_problem, problems_of


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
