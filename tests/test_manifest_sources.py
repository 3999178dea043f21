"""Manifest sources: the file and its YAML (duplicate keys, tags, alias bombs, encodings, size)
fail with a located message and run nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from batchgen.errors import ManifestError
from batchgen.manifest.load import load_manifest
from tests.manifest_cases import DATA, HEAD, SOURCE, only_problem


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


@pytest.mark.timeout(60)  # a guard, not a measure: expanded, the bomb would run for hours
def test_alias_bomb_is_rejected_before_it_expands() -> None:
    with pytest.raises(ManifestError) as caught:
        load_manifest(DATA / "alias_bomb.yaml")
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
