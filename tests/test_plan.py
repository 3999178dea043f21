"""`batchgen plan` through CliRunner: what is done and left, the cost of what is left (unpriced
models named), where the budget stops the run, the latency and limits assumed, what-ifs, --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from batchgen.cli import main
from tests.helpers import FAST, many_prompts, write_manifest

ULTRA = "google/imagen-4.0-ultra-generate-001"


def job(prompts: int, extra: str = "", models: str = FAST) -> str:
    return f"""
        version: 1
        name: planned
        provider: {{kind: emulator, time_scale: 0, image_bytes: small}}
        models: [{models}]
        {extra}
        {many_prompts(prompts)}
    """


def plan(runner: CliRunner, manifest: Path, *flags: str) -> str:
    result = runner.invoke(main, ["plan", str(manifest), *flags])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_plan_says_where_the_budget_stops_the_run(runner: CliRunner, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, job(100, "budget: {max_usd: 0.5}"))
    out = plan(runner, manifest)
    assert "planned: 100 tasks, 100 images" in out
    assert "estimated cost $2.10" in out  # 100 x $0.021
    # $0.50 holds 23 tasks of $0.021
    assert "budget $0.50: stops the run after ~23 of 100 tasks left (23%)" in out
    assert not (tmp_path / "out").exists()  # plan writes nothing


def test_unpriced_models_are_listed_never_dropped(runner: CliRunner, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, job(10, models=f"{FAST}, acme/one, acme/two"))
    out = plan(runner, manifest)
    assert "estimated cost $0.21 (not counted, no known price: acme/one, acme/two)" in out
    assert out.count("price unknown") == 2
    data = json.loads(plan(runner, manifest, "--json"))
    assert data["unpriced"] == ["acme/one", "acme/two"] and data["cost_usd"] == pytest.approx(0.21)


def test_the_plan_counts_what_the_run_directory_holds(runner: CliRunner, tmp_path: Path) -> None:
    first = write_manifest(tmp_path, job(12))
    assert runner.invoke(main, ["run", str(first)]).exit_code == 0
    bigger = write_manifest(tmp_path, job(30, "budget: {max_usd: 0.2, scope: job}"))
    out = plan(runner, bigger)
    assert "already done in out/planned: 12; left: 18" in out
    assert "estimated cost $0.38 of what is left" in out  # 18 x $0.021
    # the job spent $0.252 already: past a $0.20 job cap, nothing more fits
    assert "budget $0.20 for the whole job ($0.25 spent already)" in out
    assert "stops the run after ~0 of 18 tasks left (0%)" in out
    elsewhere = plan(runner, bigger, "--out", str(tmp_path / "other"))
    assert "already done" not in elsewhere and "estimated cost $0.63;" in elsewhere


def test_latency_and_limits_assumed_and_what_ifs(runner: CliRunner, tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path, job(160, models=f"{FAST}, {ULTRA}").replace("time_scale: 0", "time_scale: 1")
    )
    out = plan(runner, manifest)
    assert "at concurrency adaptive (estimated at 16), requests per minute no limit" in out
    assert f"{FAST}: 160 tasks, 160 images, $3.36, assumed latency " in out
    base = json.loads(plan(runner, manifest, "--json"))
    latencies = {m["model"]: m["latency_s"] for m in base["by_model"]}
    assert latencies[ULTRA] > latencies[FAST] > 0
    slower = json.loads(plan(runner, manifest, "--json", "--concurrency", "4"))
    assert slower["concurrency"] == 4 and slower["duration_s"] == pytest.approx(
        base["duration_s"] * 16 / 4
    )
    assert "at concurrency 4, requests per minute 60" in plan(
        runner, manifest, "--concurrency", "4", "--rpm", "60"
    )
    capped = json.loads(plan(runner, manifest, "--json", "--rpm", "6"))
    assert capped["duration_s"] == pytest.approx(320 * 60 / 6)  # the rate is what holds it
    what_if = json.loads(plan(runner, manifest, "--json", "--max-usd", "5"))
    assert what_if["budget"]["stops_after_tasks"] == 119  # $5 / ($0.021 + $0.063) / 2 per task
    assert what_if["budget"]["stops_after_fraction"] == pytest.approx(119 / 320)


def test_json_gives_the_same_as_the_lines(runner: CliRunner, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, job(100, "budget: {max_usd: 0.5}"))
    data = json.loads(plan(runner, manifest, "--json"))
    assert (data["name"], data["tasks"], data["done"], data["left"]) == ("planned", 100, 0, 100)
    assert data["budget"] == {
        "max_usd": 0.5,
        "scope": "run",
        "spent_usd": 0.0,
        "stops_after_tasks": 23,
        "stops_after_fraction": 0.23,
    }
    assert data["run_dir"] == "out/planned"
