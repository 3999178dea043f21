"""The job's spend reads the same whatever order its rows were written in: a rerun that
moves costs from one table to another (paid generations recorded as tasks) must never see the
job's spend go a last bit down (test_budget_job saw 0.46199999999999997, then 0.46199...99)."""

from __future__ import annotations

from pathlib import Path

from batchgen.report.read import job_spend_usd
from batchgen.store.journal import Journal


def spend_of(run_dir: Path, costs: list[float]) -> float:
    journal = Journal.open(run_dir)
    try:
        run_id = journal.begin_run(name="order", planned=len(costs), started_at=0.0)
        for n, cost in enumerate(costs):
            journal.record_generation(f"t{n}", run_id=run_id, model="m", refs=(), cost_usd=cost)
        journal.commit()
        return job_spend_usd(journal)
    finally:
        journal.close()


def test_the_same_costs_in_another_order_spend_the_same(tmp_path: Path) -> None:
    assert (0.1 + 0.2) + 0.3 != (0.3 + 0.2) + 0.1  # SQLite's SUM adds in row order like this
    forward = spend_of(tmp_path / "a", [0.1, 0.2, 0.3])
    backward = spend_of(tmp_path / "b", [0.3, 0.2, 0.1])
    assert forward == backward == 0.6
