"""The cluster's per-key gate and a worker's side of it, without Ray (issue 16): tokens used up
to valid_s late still keep every 60 s window at rpm or fewer, a lease with a slow round trip gives
nothing it cannot keep, cool-downs and shrinks reach every worker, the budget is one for all,
and a dead worker's reservations stay counted. Plus: without the ray extra, a clear error."""

from __future__ import annotations

import subprocess
import sys
from bisect import bisect_left
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from batchgen.cli import main
from batchgen.cluster.gate import KeyGate, Lease, spacing_for
from batchgen.cluster.lease import ClusterBudget, ClusterLimiter, LocalGate, TokenPool
from batchgen.errors import BudgetExceeded
from batchgen.run.limits import Permit
from tests.helpers import FAST, write_manifest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def most_in_window(starts: list[float], seconds: float) -> int:
    starts = sorted(starts)
    return max((bisect_left(starts, t + seconds) - i for i, t in enumerate(starts)), default=0)


@given(
    rpm=st.floats(min_value=0.5, max_value=5000),
    lateness=st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=400),
)
def test_tokens_used_late_still_keep_the_window(rpm: float, lateness: list[float]) -> None:
    valid = 0.25
    gate = KeyGate(requests_per_minute=rpm, max_usd=None, valid_s=valid, clock=lambda: 0.0)
    times: list[float] = []
    while len(times) < len(lateness):
        times += gate.lease("w", 64).delays_s
    # each start anywhere in [token, token + valid_s]: the worst a worker may do
    starts = [t + late * valid for t, late in zip(times, lateness, strict=False)]
    limit = max(1, int(rpm)) if rpm >= 1 else 1
    window = 60.0 if rpm >= 1 else 60.0 / rpm
    assert most_in_window(starts, window) <= limit


def test_spacing_costs_little_at_common_rates() -> None:
    assert spacing_for(120, 0.25) == pytest.approx(60.25 / 120)
    assert spacing_for(6000, 0.25) / 0.01 < 1.005


def test_a_cool_down_and_a_shrink_reach_the_next_lease() -> None:
    now = [0.0]
    gate = KeyGate(requests_per_minute=600, max_usd=None, clock=lambda: now[0])
    gate.cool_down(5.0)
    lease = gate.lease("b", 4)
    assert lease.cool_down_s == 5.0 and min(lease.delays_s) >= 5.0
    assert gate.overloaded() == 1 and gate.lease("b", 1).shrinks == 1


@pytest.mark.anyio
async def test_a_slow_round_trip_gives_no_token_it_cannot_keep() -> None:
    class SlowGate(LocalGate):
        async def lease(self, want: int) -> Lease:
            clock[0] += 0.5  # the answer takes longer than a token stays valid
            return await super().lease(want)

    clock = [100.0]
    gate = SlowGate(KeyGate(requests_per_minute=60, max_usd=None, clock=lambda: clock[0]), "w")
    pool = TokenPool(gate, on_lease=lambda lease: None, clock=lambda: clock[0])
    with anyio.move_on_after(0.2):
        await pool.take()
        pytest.fail("a token was used that the worker could not prove valid")


@pytest.mark.anyio
async def test_one_budget_for_every_worker() -> None:
    gate = KeyGate(requests_per_minute=None, max_usd=1.0)
    a, b = ClusterBudget(LocalGate(gate, "a"), 1.0), ClusterBudget(LocalGate(gate, "b"), 1.0)
    await a.claim(0.6)
    with anyio.move_on_after(0.2) as waited:  # b waits: a's request may still cost less
        await b.claim(0.6)
    assert waited.cancelled_caught
    a.settle(0.6, 0.6)
    with pytest.raises(BudgetExceeded):  # 0.6 spent, nothing in flight: 0.6 more never fits
        await b.claim(0.6)
    await b.claim(0.4)


def test_a_dead_workers_reservations_stay_counted() -> None:
    gate = KeyGate(requests_per_minute=None, max_usd=1.0)
    assert gate.reserve("dead", 0.7).answer == "ok"
    gate.forget("dead")
    assert gate.reserve("alive", 0.4).answer == "never"
    assert gate.stats.lost_usd == pytest.approx(0.7)


@pytest.mark.anyio
async def test_a_workers_limiter_follows_the_others_shrink() -> None:
    gate = KeyGate(requests_per_minute=None, max_usd=None)
    one = ClusterLimiter(LocalGate(gate, "one"), concurrency=None, max_concurrency=64)
    two = ClusterLimiter(LocalGate(gate, "two"), concurrency=None, max_concurrency=64)
    for _ in range(20):  # slow start: both climb
        for limiter in (one, two):
            async with limiter.slot() as permit:
                limiter.feedback(permit, overloaded=False)
    before = two.statistics().concurrency
    # one hears a 429 naming the key's own limit (a lone stray one would not shrink it)
    one.feedback(Permit(waited_s=0.0, epoch=0), overloaded=True, named=True)
    async with two.slot() as permit:  # two's next lease carries the shrink
        pass
    assert two.statistics().concurrency < before


def test_without_the_extra_the_error_names_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as if not installed
    manifest = write_manifest(tmp_path, f"version: 1\nname: x\nmodels: [{FAST}]\nprompts: [a]\n")
    result = CliRunner().invoke(main, ["run", str(manifest), "--executor", "ray"])
    assert result.exit_code == 2, result.output
    assert "pip install 'batchgen[ray]'" in result.output
    assert "Traceback" not in result.output


def test_help_and_a_local_run_never_import_ray() -> None:
    code = "import sys, batchgen.cli, batchgen.run.job; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
