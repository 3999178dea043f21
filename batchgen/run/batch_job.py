"""A mode: batch run assembled: the provider's batch client, the saver, the live fallback."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable

from batchgen.errors import ManifestError
from batchgen.manifest.batchmode import refusal
from batchgen.models import Manifest, Task
from batchgen.providers import open_provider
from batchgen.providers.batching import batch_client_for
from batchgen.retry import RetryPolicy
from batchgen.run.batch import BatchRunner, BatchSettings, LiveRun
from batchgen.run.engine import RunResult
from batchgen.run.runlog import RunLog
from batchgen.run.saving import ImageSaver, SaveSettings
from batchgen.store.journal import Journal
from batchgen.store.sink import Sink


def deadline_at(deadline: str | None, now: float) -> float | None:
    """ "HH:MM" local time -> its next occurrence as epoch seconds (today, else tomorrow)."""
    if deadline is None:
        return None
    hour, minute = (int(part) for part in deadline.split(":"))
    today = dt.datetime.fromtimestamp(now).replace(hour=hour, minute=minute, second=0)
    when = today if today.timestamp() > now else today + dt.timedelta(days=1)
    return when.timestamp()


async def render_batch(
    manifest: Manifest,
    *,
    journal: Journal,
    log: RunLog,
    sink: Sink,
    tasks: Iterable[Task],
    live: LiveRun | None,
    settings: BatchSettings | None = None,
) -> RunResult:
    """Render `tasks` through the provider's batch API (live leftovers near the deadline
    when the manifest says fallback_mode: live)."""
    if (reason := refusal(manifest)) is not None:
        raise ManifestError([f"{manifest.source or 'manifest'}: mode: {reason}"])
    settings = settings or BatchSettings(
        resolution=manifest.resolution,
        deadline_at=deadline_at(manifest.deadline, time.time()),
    )
    async with open_provider(manifest) as provider:
        saver = ImageSaver(
            provider=provider,
            sink=sink,
            log=log,
            settings=SaveSettings(  # output.format/sizes apply to batch results too
                name=manifest.name, filename=manifest.output.filename, output=manifest.output
            ),
            policy=RetryPolicy(max_attempts=manifest.limits.max_attempts),
        )
        runner = BatchRunner(
            client=batch_client_for(provider),
            journal=journal,
            log=log,
            saver=saver,
            settings=settings,
            live=live if manifest.fallback_mode == "live" else None,
        )
        return await runner.run(tasks)
