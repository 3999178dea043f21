"""A user's own files are never removed or overwritten; impossible paths are found at validate."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
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
    assert job.summary.tasks.done == 2
    assert mine.read_bytes() == b"the user's own photo"


@pytest.fixture
def other_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A folder on another filesystem than tmp_path (tmpfs), removed afterwards."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on another filesystem than the test folder")
    folder = Path(tempfile.mkdtemp(prefix="batchgen-images-", dir=shm))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_images_on_another_filesystem_than_the_run_folder(
    tmp_path: Path, other_filesystem: Path
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "images").symlink_to(other_filesystem, target_is_directory=True)
    job = run(load(tmp_path, JOB), RunOptions(out=run_dir))
    assert job.summary.tasks.done == 2, job.summary
    assert len(list(other_filesystem.rglob("*.png"))) == 2
    assert list(other_filesystem.rglob("*.part")) == []


def test_parts_a_kill_left_beside_their_final_names_go_on_resume(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run(load(tmp_path, JOB), RunOptions(out=run_dir))
    folders = {path.parent for path in (run_dir / "images").rglob("*.png")}
    left = [folder / ".deadbeef-0.part" for folder in folders]
    for part in left:
        part.write_bytes(b"half an image")
    run(load(tmp_path, JOB), RunOptions(out=run_dir))
    assert not any(part.exists() for part in left)


@pytest.mark.parametrize(
    ("output", "where", "message"),
    [
        ('{filename: "' + "x" * 240 + '-{task_id}.{ext}"}', "output.filename", "over the 255"),
        ('{filename: "{prompt_slug}' + "é" * 100 + '-{task_id}.{ext}"}', "output.filename", "255"),
        ('{filename: "a\\0b-{task_id}.{ext}"}', "output.filename", "NUL"),
        ('{dir: "out/a\\0b"}', "output.dir", "NUL"),
    ],
)  # fmt: skip
def test_impossible_paths_are_found_at_validate(
    tmp_path: Path, output: str, where: str, message: str
) -> None:
    manifest = write_manifest(tmp_path, JOB + f"output: {output}\n")
    result = CliRunner().invoke(main, ["validate", str(manifest)])
    assert result.exit_code == 2, result.output
    assert f"{manifest}:6:" in result.output and f"{where}:" in result.output
    assert message in result.output


def test_a_lone_surrogate_in_a_prompt_is_found_at_validate(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, JOB.replace('"a dog"', '"a \\ud800 dog"'))
    result = CliRunner().invoke(main, ["validate", str(manifest)])
    assert result.exit_code == 2, result.output
    assert (
        f"{manifest}:4:20:" in result.output
        and "prompts[1]: holds a lone surrogate" in result.output
    )
