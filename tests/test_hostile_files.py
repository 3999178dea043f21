"""A user's own files are never removed or overwritten; impossible paths are found at validate."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from batchgen.cli import main
from batchgen.run.job import RunOptions, run
from tests.helpers import FAST, load, write_manifest

JOB = f"""
version: 1
name: files
models: [{FAST}]
prompts: ["a cat", "a dog"]
provider: {{kind: emulator, time_scale: 0, image_bytes: small}}
"""


@pytest.mark.parametrize("name", [".", "..", "a/b", "../up", "a\\\\b"])
def test_a_name_that_is_a_path_is_refused_at_validate(tmp_path: Path, name: str) -> None:
    manifest = write_manifest(tmp_path, JOB.replace("name: files", f'name: "{name}"'))
    result = CliRunner().invoke(main, ["validate", str(manifest)])
    assert result.exit_code == 2
    assert f"{manifest}:2:7: name:" in result.output and "not '.' or '..'" in result.output


def test_fresh_leaves_a_folder_that_batchgen_did_not_make_alone(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "images").mkdir(parents=True)
    mine = project / "images" / "holiday.jpg"
    mine.write_bytes(b"the user's own photo")
    job = run(load(tmp_path, JOB), RunOptions(out=project, fresh=True))
    assert job.summary["tasks"]["done"] == 2
    assert mine.read_bytes() == b"the user's own photo"
