"""mode: batch at the command line (issue 15): validate refuses it where there is no batch API,
located and with the reason; plan shows live vs batch cost; status lists batches, read only."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from batchgen.cli import main
from batchgen.manifest.load import parse_manifest
from batchgen.plan import make_plan, price_by_mode


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text("version: 1\nprompts: [a red kite, a blue kite]\n" + text)
    return path


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("models: [imagen-4.0-generate-001]\nmode: batch\n", "AI/ML API has no batch API"),
        ("provider: {kind: fal}\nmodels: [fal-ai/imagen4/preview]\nmode: batch\n", "fal has no"),
        (
            "provider: {kind: gemini}\nmodels: [gemini-2.5-flash-image, imagen-4.0-generate-001]\n"
            "mode: batch\n",
            "models[1]: imagen-4.0-generate-001 cannot run in mode: batch: Imagen",
        ),
    ],
)
def test_validate_refuses_batch_mode_where_there_is_none(
    tmp_path: Path, text: str, said: str
) -> None:
    result = CliRunner().invoke(main, ["validate", str(write(tmp_path, text))])
    assert result.exit_code == 2
    assert said in result.output and "job.yaml:" in result.output


def test_batch_keys_are_checked(tmp_path: Path) -> None:
    text = "provider: {kind: openai}\nmodels: [gpt-image-2]\nmode: batch\ndeadline: '25:00'\n"
    result = CliRunner().invoke(main, ["validate", str(write(tmp_path, text))])
    assert result.exit_code == 2 and "deadline" in result.output


def test_plan_shows_live_and_batch_cost_side_by_side(tmp_path: Path) -> None:
    text = "provider: {kind: openai}\nmodels: [gpt-image-2]\n"
    manifest = parse_manifest(write(tmp_path, text).read_text(), source=tmp_path / "job.yaml")
    plan = make_plan(manifest)
    prices = price_by_mode(plan, manifest)
    assert plan.cost_usd > 0 and prices.batch_usd == pytest.approx(plan.cost_usd / 2)
    result = CliRunner().invoke(main, ["plan", str(write(tmp_path, text))])
    assert result.exit_code == 0
    assert f"live ${plan.cost_usd:,.2f} vs batch ${plan.cost_usd / 2:,.2f}" in result.output


def test_plan_says_why_a_job_cannot_be_batched(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["plan", str(write(tmp_path, "models: [imagen4]\n"))])
    assert "; batch is not possible: the AI/ML API" in result.output
    assert result.output.count("not possible") == 1  # said once, not twice in a row


def test_run_mode_batch_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    path = write(tmp_path, "models: [imagen-4.0-generate-001]\n")
    result = CliRunner().invoke(
        main, ["run", str(path), "--mode", "batch", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "no batch API" in result.output


@pytest.mark.anyio
async def test_status_lists_batches_without_starting_anything(tmp_path: Path) -> None:
    from batchgen.emulator import EmulatorConfig, running_emulator
    from batchgen.run.job import RunOptions, run_job
    from tests.test_batch_run import manifest_for

    async with running_emulator(EmulatorConfig(time_scale=0, image_bytes="small")) as emulator:
        job = await run_job(
            manifest_for(emulator.base_url, "openai", 5, tmp_path),
            RunOptions(html=False, batch_poll_s=0),
        )
        requests = emulator.stats.requests_total
        result = CliRunner().invoke(main, ["status", str(job.run_dir)])
        assert emulator.stats.requests_total == requests  # asked the provider nothing
    assert result.exit_code == 0, result.output
    assert "5 tasks done, 0 failed; 1 batches" in result.output
    assert "completed, collected" in result.output and "turnaround" in result.output
