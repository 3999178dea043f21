"""A journal with damaged pages: a clear message in `run` and `report`, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from batchgen.run.job import RunOptions, run
from tests.helpers import FAST, load, write_manifest

JOB = f"""
version: 1
name: damaged
provider: {{kind: emulator, time_scale: 0, image_bytes: small}}
models: [{FAST}]
prompts: [a, b, c, d]
"""
PAGE = 4096


def damage(journal: Path, pages: slice) -> None:
    for extra in ("-wal", "-shm"):
        Path(str(journal) + extra).unlink(missing_ok=True)
    data = bytearray(journal.read_bytes())
    for start in range(len(data))[pages]:
        data[start : start + PAGE] = b"\xa5" * PAGE
    journal.write_bytes(bytes(data))


@pytest.mark.parametrize("pages", [slice(PAGE, None, PAGE), slice(-3 * PAGE, None, PAGE)])
@pytest.mark.parametrize("command", ["run", "report"])
def test_a_damaged_journal_is_a_message(tmp_path: Path, pages: slice, command: str) -> None:
    run_dir = tmp_path / "run"
    manifest = write_manifest(tmp_path, JOB)
    run(load(tmp_path, JOB), RunOptions(out=run_dir, html=False))
    damage(run_dir / "journal.sqlite", pages)
    args = [str(manifest), "--out", str(run_dir)] if command == "run" else [str(run_dir)]
    done = subprocess.run(
        [sys.executable, "-m", "batchgen", command, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "error: the journal is damaged: " in done.stderr
    assert "rerun with --fresh to start over, or restore journal.sqlite" in done.stderr
