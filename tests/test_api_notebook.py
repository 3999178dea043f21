"""The Python API where a notebook uses it: `run()` called inside a running event loop, `await
arun(...)`, paths as plain strings, a manifest path instead of a loaded Manifest, and a plan at the
emulator's time scale."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import batchgen
from batchgen import JobResult, RunOptions, Summary
from tests.helpers import FAST, check_run_dir, many_prompts, write_manifest

JOB = f"""
    version: 1
    name: nb
    provider: {{kind: emulator, time_scale: 0, image_bytes: small}}
    models: [{FAST}]
    limits: {{concurrency: 4}}
    {many_prompts(3)}
"""


def _check(job: JobResult, out: Path) -> None:
    assert job.run_dir == out and isinstance(job.run_dir, Path)
    assert isinstance(job.summary, Summary)
    assert job.summary.tasks.done == 3 and job.result.status == "complete"
    assert check_run_dir(out) == 3


@pytest.mark.anyio
async def test_run_called_synchronously_inside_a_running_loop(tmp_path: Path) -> None:
    # what a notebook cell does: plain `run(...)` while the kernel's loop is running
    manifest = write_manifest(tmp_path, JOB)
    out = tmp_path / "nb1"
    job = batchgen.run(str(manifest), RunOptions(out=str(out), html=False))
    _check(job, out)


@pytest.mark.anyio
async def test_arun_is_awaited_in_the_callers_loop(tmp_path: Path) -> None:
    manifest = batchgen.load_manifest(str(write_manifest(tmp_path, JOB)))
    out = tmp_path / "nb2"
    job = await batchgen.arun(manifest, RunOptions(out=str(out), html=False))
    _check(job, out)
    again = await batchgen.arun(manifest, RunOptions(out=str(out), html=False))
    assert again.result.skipped == 3 and again.result.done == 0  # a rerun pays for nothing


def test_run_outside_a_loop_takes_str_paths(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, JOB)
    out = tmp_path / "script"
    _check(batchgen.run(os.fspath(manifest), RunOptions(out=os.fspath(out), html=False)), out)


def test_run_options_hold_a_path_whatever_they_were_given() -> None:
    assert RunOptions(out="out/nb2").out == Path("out/nb2")
    assert RunOptions(out=Path("x")).out == Path("x")
    assert RunOptions().out is None
    assert "PosixPath" in repr(RunOptions(out="out/nb2")) or "WindowsPath" in repr(
        RunOptions(out="out/nb2")
    )


def test_make_plan_runs_at_the_emulators_time_scale(tmp_path: Path) -> None:
    slow = batchgen.load_manifest(
        write_manifest(tmp_path, JOB.replace("time_scale: 0,", "time_scale: 1,"), "a.yaml")
    )
    fast = batchgen.load_manifest(
        write_manifest(tmp_path, JOB.replace("time_scale: 0,", "time_scale: 0.01,"), "b.yaml")
    )
    assert batchgen.make_plan(fast).duration_s == pytest.approx(
        batchgen.make_plan(slow).duration_s * 0.01
    )
    assert batchgen.make_plan(fast, latency_scale=1.0).duration_s == pytest.approx(
        batchgen.make_plan(slow).duration_s
    )
