"""The README stays true: every manifest key, command and option is in it, and CI runs its
test command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from batchgen.cli import main
from batchgen.manifest.schema import MANIFEST_SCHEMA

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
TEST_COMMAND = "pip install -e '.[test]' && pytest"
LINT_COMMAND = "ruff format --check . && ruff check . && mypy"


def keys(schema: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of every setting a manifest may hold (mappings by their keys)."""
    found: list[str] = []
    for key, sub in schema.get("properties", {}).items():
        if "not" in sub:
            continue  # forbidden (api_key): the README need not list it as a setting
        nested = sub.get("type") == "object" and sub.get("additionalProperties") is False
        found += keys(sub, f"{prefix}{key}.") if nested else [prefix + key]
    return found


def test_every_manifest_key_is_explained_with_its_default() -> None:
    table = README[README.index("| key | default | meaning |") :].split("\n\n")[0]
    missing = [
        key
        for key in keys(MANIFEST_SCHEMA)
        if f"`{key}`" not in table and f"`{key.split('.')[-1]}`" not in table
    ]
    assert missing == []
    assert len(keys(MANIFEST_SCHEMA)) > 20


def test_every_command_and_option_is_in_the_readme() -> None:
    for name, command in main.commands.items():
        assert f"batchgen {name}" in README
        flags = [o for p in command.params for o in p.opts if o.startswith("--")]
        assert [flag for flag in flags if flag not in README] == [], name


def test_quick_start_benchmarks_and_ci_agree() -> None:
    assert "pip install -e . && batchgen run jobs/demo.yaml" in README
    assert TEST_COMMAND in README
    assert "## Benchmarks" in README and "(benchmarks/RESULTS.md)" in README
    for section in (
        "## Reading the report",
        "## Providers and keys",
        "## Resume, interrupt, budget",
    ):
        assert section in README
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == TEST_COMMAND
    # CI keeps the rules the README states, one step a line (set -e ignores a failing `a && b`'s a)
    assert LINT_COMMAND in README
    assert all(step in ci for step in LINT_COMMAND.split(" && ")), ci
