"""What the command line prints: --json and --quiet for scripts, progress on a terminal or not,
and manifest mistakes shown the way a compiler shows them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from batchgen.cli import main
from tests.helpers import FAST, many_prompts, write_manifest

ULTRA = "google/imagen-4.0-ultra-generate-001"
JOB = f"""
    version: 1
    name: outjob
    provider: {{kind: emulator, time_scale: 0, image_bytes: small}}
    models: [{FAST}, {ULTRA}]
    {many_prompts(5)}
"""


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    return CliRunner()


def test_json_puts_only_the_summary_on_stdout(runner: CliRunner, tmp_path: Path) -> None:
    job = write_manifest(tmp_path, JOB)
    result = runner.invoke(main, ["run", str(job), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # nothing but the JSON document
    assert summary["tasks"] == {"planned": 10, "done": 10, "failed": 0, "pending": 0}
    assert summary["result"]["status"] == "complete" and summary["result"]["done"] == 10
    assert Path(summary["run_dir"]) == Path("out/outjob")
    assert set(summary["cost_usd"]["by_model"]) == {FAST, ULTRA}
    # not a terminal: the progress is one plain final line on stderr
    assert result.stderr.strip().splitlines()[-1].startswith("10/10 tasks")


def test_json_run_that_fails_says_why_on_stderr(runner: CliRunner, tmp_path: Path) -> None:
    job = write_manifest(tmp_path, JOB.replace("small}", "small, faults: 'policy=1'}"))
    result = runner.invoke(main, ["run", str(job), "--json"])
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["errors"]["failed_tasks_by_kind"] == {"rejected": 10}
    assert "10 tasks failed" in result.stderr


def test_quiet_prints_nothing_unless_something_is_wrong(runner: CliRunner, tmp_path: Path) -> None:
    job = write_manifest(tmp_path, JOB.replace(FAST, "google/imagen-4.0-fast-generate-01"))
    result = runner.invoke(main, ["run", str(job), "--quiet"])
    assert result.exit_code == 1  # the unknown model fails, quietly apart from the reason
    assert result.stdout == ""
    assert result.stderr.strip() == "5 tasks failed; see out/outjob/report.html"

    good = write_manifest(tmp_path, JOB, "good.yaml")
    result = runner.invoke(main, ["run", str(good), "-q", "--out", "good"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_a_terminal_gets_live_rows_per_model_with_the_budget(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich treats stderr as a terminal
    job = write_manifest(tmp_path, JOB)
    result = runner.invoke(main, ["run", str(job), "--max-usd", "10"])
    assert result.exit_code == 0, result.output
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.stderr)
    assert "outjob" in screen and "10/10" in screen and "of $10.00 budget" in screen
    assert "imagen-4.0-fast-generate-001" in screen and "imagen-4.0-ultra-generate-001" in screen
    assert "img/s" in screen and "ETA" in screen and "retries 0" in screen
    assert "outjob: 10 of 10 tasks rendered" in result.stdout


def test_validate_shows_the_line_and_marks_the_value(runner: CliRunner, tmp_path: Path) -> None:
    bad = write_manifest(tmp_path, """
        version: 1
        provider: {kind: aimlpi}
        models: [google/imagen-4.0-fast-generate-001]
        num_images: 9
        prompts: [x]
    """)  # fmt: skip
    result = runner.invoke(main, ["validate", str(bad)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {bad}:2:18: provider.kind: 'aimlpi' is not allowed; did you mean 'aimlapi'? "
        "expected one of emulator, aimlapi, gemini, openai, fal",
        "  2 | provider: {kind: aimlpi}",
        "    |                  ^~~~~~",
        f"error: {bad}:4:13: num_images: must be an integer from 1 to 4, got 9",
        "  4 | num_images: 9",
        "    |             ^",
        "2 errors",  # and warnings, when there are some, in the same pass
    ]


def test_an_unknown_model_is_a_warning_with_the_closest_name(
    runner: CliRunner, tmp_path: Path
) -> None:
    job = write_manifest(tmp_path, """
        version: 1
        models: [google/imagen-4.0-fast-generate-01]
        fallback: {google/imagen-4.0-fast-generate-01: "google/imagen4-preview"}
        prompts: [x]
    """)  # fmt: skip
    result = runner.invoke(main, ["validate", str(job)])
    assert result.exit_code == 0
    assert result.stdout == f"{job}: ok (1 tasks)\n"
    assert result.stderr.splitlines() == [
        f"warning: {job}:2:10: models[0]: unknown model 'google/imagen-4.0-fast-generate-01'; "
        "did you mean 'google/imagen-4.0-fast-generate-001'? (sent as written otherwise)",
        "  2 | models: [google/imagen-4.0-fast-generate-01]",
        "    |          ^~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~",
        f"warning: {job}:3:48: fallback['google/imagen-4.0-fast-generate-01']: unknown model "
        "'google/imagen4-preview'; did you mean 'google/imagen4/preview'? "
        "(sent as written otherwise)",
        '  3 | fallback: {google/imagen-4.0-fast-generate-01: "google/imagen4-preview"}',
        "    |                                                ^~~~~~~~~~~~~~~~~~~~~~~~",
    ]


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("imagen-5", "imagen4/preview"),  # by letters alone: 'gpt-image-1.5', another family
        ("Imagen-4.0-Fast", "imagen-4.0-fast-generate-001"),  # case does not count
        ("gemini-flash-image", "gemini-3.1-flash-image"),
        ("gpt-imag-2", "gpt-image-2"),
    ],
)
def test_the_closest_model_is_of_the_same_family_and_any_case(
    runner: CliRunner, tmp_path: Path, typed: str, meant: str
) -> None:
    job = write_manifest(tmp_path, f"version: 1\nmodels: [{typed}]\nprompts: [x]\n")
    result = runner.invoke(main, ["validate", str(job)])
    assert result.exit_code == 0
    assert f"unknown model '{typed}'; did you mean '{meant}'? (sent as" in result.stderr


def test_a_name_far_from_every_model_lists_the_known_ones(
    runner: CliRunner, tmp_path: Path
) -> None:
    job = write_manifest(tmp_path, "version: 1\nmodels: flux/dev\nprompts: [x]\n")
    result = runner.invoke(main, ["plan", str(job)])
    assert result.exit_code == 0
    warning = f"warning: {job}:2:9: models: unknown model 'flux/dev'; expected one of "
    assert warning in result.stderr
    assert "google/imagen-4.0-generate-001" in result.stderr
