"""Money you can trust: the cap is reached, never passed, under any concurrency; reported costs
that pass the worst case are counted, flagged and shrink the room; unpriced models need a price."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from batchgen.emulator import Emulator, EmulatorConfig, parse_faults, running_emulator
from batchgen.errors import BudgetExceeded, ManifestError
from batchgen.models import Manifest, ProviderConfig
from batchgen.report.names import COST_FLAG_KIND
from batchgen.run.budget import Budget
from batchgen.run.job import RunOptions, run_job
from tests.helpers import FAST, journal_rows, load, many_prompts

pytestmark = pytest.mark.anyio
KEY_ENV = "BATCHGEN_TEST_KEY"
KEY = "sk-test-0123456789abcdef"
FAST_USD = 0.021  # per image


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY


def on(emulator: Emulator, manifest: Manifest) -> Manifest:
    provider = ProviderConfig(kind="emulator", base_url=emulator.base_url, api_key_env=KEY_ENV)
    return dataclasses.replace(manifest, provider=provider)


@pytest.fixture
async def emulator(key: str) -> AsyncIterator[Emulator]:
    config = EmulatorConfig(time_scale=0.002, image_bytes="small", api_key=key)
    async with running_emulator(config) as emu:
        yield emu


@pytest.mark.slow
@pytest.mark.parametrize("limits", ["{}", "{concurrency: 8}", "{concurrency: 64}"])
async def test_a_capped_run_reaches_the_cap_under_any_concurrency(
    tmp_path: Path, emulator: Emulator, limits: str
) -> None:
    # the job: 500 tasks of 3 images ($31.50 planned), capped at $10
    manifest = on(emulator, load(tmp_path, f"""
        version: 1
        models: [{FAST}]
        num_images: 3
        limits: {limits}
        budget: {{max_usd: 10}}
        {many_prompts(500)}
    """))  # fmt: skip
    job = await run_job(manifest, RunOptions(out=tmp_path / "run", html=False))
    assert job.result.status == "budget"
    assert 9.5 <= job.summary.cost_usd.total <= 10.0
    billed = emulator.stats.credits_billed / 2_000_000
    assert billed <= 10.0 + 1e-9


@pytest.mark.parametrize("fault", ["overcharge", "extra_images", "negative_cost"])
async def test_a_provider_that_misreports_cost_stays_within_the_cap(
    tmp_path: Path, key: str, fault: str
) -> None:
    config = EmulatorConfig(
        time_scale=0.002, image_bytes="small", api_key=key, faults=parse_faults(f"{fault}=1")
    )
    async with running_emulator(config) as emulator:
        manifest = on(emulator, load(tmp_path, f"""
            version: 1
            models: [{FAST}]
            budget: {{max_usd: 0.25}}
            limits: {{concurrency: 2}}
            {many_prompts(40)}
        """))  # fmt: skip
        job = await run_job(manifest, RunOptions(out=tmp_path / "run", html=False))
        billed = emulator.stats.credits_billed / 2_000_000
    assert job.result.status == "budget"
    spent = job.summary.cost_usd.total
    assert 0 < spent <= 0.25
    assert billed <= 0.25 + 1e-9
    flags = journal_rows(job.run_dir, f"SELECT message FROM errors WHERE kind = '{COST_FLAG_KIND}'")
    assert len(flags) == job.result.done > 0  # every answer was off, every one is flagged
    assert job.summary.cost_usd.flagged == len(flags)
    assert job.summary.errors.attempts_by_kind == {}  # a flag is not a failed attempt
    if fault == "negative_cost":  # never credit: counted at the table's price
        assert spent == pytest.approx(FAST_USD * job.result.done)


async def test_an_unpriced_model_under_a_budget_is_a_located_error(tmp_path: Path) -> None:
    body = "version: 1\nmodels: [acme/painter-1]\nbudget: {max_usd: 5}\nprompts: [a]\n"
    with pytest.raises(ManifestError) as caught:
        load(tmp_path, body)
    assert "job.yaml:2:10: models[0]: model 'acme/painter-1' has no known price" in str(
        caught.value
    ) and "prices:" in str(caught.value)
    manifest = load(tmp_path, body.replace("prompts:", "prices: {acme/painter-1: 0.05}\nprompts:"))
    assert manifest.prices == {"acme/painter-1": 0.05}


async def test_max_usd_on_the_command_line_needs_prices_too(tmp_path: Path) -> None:
    manifest = load(tmp_path, "version: 1\nmodels: [acme/painter-1]\nprompts: [a]\n")
    with pytest.raises(ManifestError, match="no known price"):
        await run_job(manifest, RunOptions(out=tmp_path / "run", max_usd=1.0))


def test_a_model_over_its_worst_case_twice_is_reserved_at_what_it_costs() -> None:
    budget = Budget(1.0)
    assert budget.worst_case("m", 2, 0.04) == 0.04
    budget.over("m", 2, 0.10)
    assert budget.worst_case("m", 2, 0.04) == 0.04  # once may be a fluke
    budget.over("m", 2, 0.08)
    assert budget.worst_case("m", 2, 0.04) == pytest.approx(0.10)
    assert budget.worst_case("m", 1, 0.02) == pytest.approx(0.05)
    assert budget.worst_case("other", 1, 0.02) == 0.02


async def test_a_request_that_does_not_fit_waits_for_those_in_flight() -> None:
    budget = Budget(0.10)
    await budget.claim(0.06)
    order: list[str] = []

    async def second() -> None:
        await budget.claim(0.06)  # 0.12 would pass: waits for the first to settle
        order.append("second started")

    async with anyio.create_task_group() as group:
        group.start_soon(second)
        await anyio.sleep(0.01)
        order.append("first settles")
        budget.settle(0.06, 0.03)
    assert order == ["first settles", "second started"]
    budget.settle(0.06, 0.06)
    with pytest.raises(BudgetExceeded):  # 0.09 spent, nothing in flight: 0.06 can never fit
        await budget.claim(0.06)


async def test_a_job_cap_counts_what_earlier_runs_spent() -> None:
    budget = Budget(0.10, spent_before_usd=0.08)
    with pytest.raises(BudgetExceeded):
        await budget.claim(0.03)
    await budget.claim(0.02)
