"""fallback_mode: live (issue 15 point 3): near the deadline, tasks an expired batch left
unanswered go to live requests instead of a new batch; far from it, to a new batch."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchgen.emulator import EmulatorConfig, running_emulator
from batchgen.expand import expand
from batchgen.models import Task
from batchgen.providers import open_provider
from batchgen.providers.batching import batch_client_for
from batchgen.retry import RetryPolicy
from batchgen.run.batch import BatchRunner, BatchSettings
from batchgen.run.batch_job import deadline_at
from batchgen.run.engine import RunResult
from batchgen.run.runlog import RunLog
from batchgen.run.saving import ImageSaver, SaveSettings
from batchgen.store.journal import Journal
from batchgen.store.sink import Sink
from tests.test_batch_run import manifest_for

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("api", ["openai", "gemini"])
async def test_expired_leftovers_go_live_near_the_deadline(api: str, tmp_path: Path) -> None:
    config = EmulatorConfig(time_scale=0, image_bytes="small", batch_expiries=1)
    went_live: list[Task] = []

    async def live(tasks: list[Task], max_usd: float | None) -> RunResult:
        went_live.extend(tasks)
        return RunResult("complete", None, 0, 0, 0, 0.0)

    async with running_emulator(config) as emulator:
        manifest = manifest_for(emulator.base_url, api, 10, tmp_path)
        run_dir = tmp_path / "out"
        journal = Journal.open(run_dir)
        sink = Sink(run_dir)
        sink.prepare()
        log = RunLog.begin(journal, name="nightly", planned=10)
        async with open_provider(manifest) as provider:
            runner = BatchRunner(
                client=batch_client_for(provider),
                journal=journal,
                log=log,
                saver=ImageSaver(
                    provider=provider,
                    sink=sink,
                    log=log,
                    settings=SaveSettings(name="nightly", filename=manifest.output.filename),
                    policy=RetryPolicy(),
                ),
                settings=BatchSettings(poll_s=0, deadline_at=1000.0, live_margin_s=100.0),
                live=live,
                # far from the deadline until the first batch exists, then near it
                clock=lambda: 950.0 if emulator.stats.batches_created else 0.0,
            )
            await runner.run(list(expand(manifest)))
        journal.close()
    answered = 5 if api == "openai" else 0  # OpenAI returns an expired batch's finished half
    assert len(went_live) == 10 - answered
    assert emulator.stats.batches_created == 1  # the leftovers were not batched again
    assert max(emulator.stats.batch_submitted.values()) == 1


def test_a_deadline_is_its_next_occurrence() -> None:
    import datetime as dt

    noon = dt.datetime(2026, 11, 30, 12, 0).timestamp()
    assert deadline_at("13:30", noon) == dt.datetime(2026, 11, 30, 13, 30).timestamp()
    assert deadline_at("06:00", noon) == dt.datetime(2026, 12, 1, 6, 0).timestamp()
    assert deadline_at(None, noon) is None
