"""The emulator's options are checked at validate, each located, not at run time."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from batchgen.cli import main
from tests.helpers import FAST, write_manifest


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('faults: "429=2"', "provider.faults: fault '429': probability '2' is not within 0..1"),
        ('faults: "nonsense=0.1"', "provider.faults: unknown fault 'nonsense'"),
        ('faults: "429"', "provider.faults: fault '429': expected KEY=VALUE"),
        ("image_bytes: 5000", "provider.image_bytes: must be an integer from 30000 to 3000000"),
    ],
)
def test_bad_emulator_options_are_located_at_validate(
    tmp_path: Path, options: str, message: str
) -> None:
    manifest = write_manifest(
        tmp_path,
        f"""
        version: 1
        provider: {{kind: emulator, {options}}}
        models: [{FAST}]
        prompts: [a]
        """,
    )
    result = CliRunner().invoke(main, ["validate", str(manifest)])
    assert result.exit_code == 2, result.output
    assert f"{manifest}:2:" in result.output and message in result.output
