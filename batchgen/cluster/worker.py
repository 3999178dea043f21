"""A worker process of a cluster run (wrapped as a Ray actor): batchgen's own engine on each
chunk it is given, with its own provider session and sink, the key's gate for its limits and
the driver's recorder for its journal."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchgen.cluster.gate import Lease, Reservation
from batchgen.cluster.lease import ClusterBudget, ClusterLimiter, GateClient
from batchgen.cluster.liveness import Answer, StartGuard
from batchgen.cluster.records import Chunk, ChunkResult, ErrorNote
from batchgen.cluster.remotelog import RemoteLog, RemoteQueue
from batchgen.models import ImageRef, Manifest, Outcome, SavedImage, Task
from batchgen.providers import open_provider
from batchgen.providers.base import Provider
from batchgen.retry import RetryPolicy
from batchgen.run.adaptive import DEFAULT_CEILING
from batchgen.run.budget import Budget
from batchgen.run.job import build_engine, engine_settings
from batchgen.run.settings import run_settings
from batchgen.store.bucket import BucketSink, is_bucket_url
from batchgen.store.sink import Sink


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSettings:
    """What every worker of a run shares, and this worker's share of the concurrency."""

    manifest: Manifest
    run_dir: str  # the driver's run directory (a local cluster writes images there)
    name: str  # this worker's name at the gate
    concurrency: int | None  # its share; None: adaptive up to `ceiling`
    ceiling: int = DEFAULT_CEILING
    wait_scale: float = 1.0
    grace_s: float = 30.0
    send_settings: bool = False  # the first worker tells the journal the run's settings


class RayGate:
    """GateClient over the gate actor: leases and reservations are awaited, notes only sent."""

    def __init__(self, gate: Any, worker: str) -> None:
        self._gate, self._worker = gate, worker

    async def lease(self, want: int) -> Lease:
        lease: Lease = await self._gate.lease.remote(self._worker, want)
        return lease

    async def reserve(self, worst_usd: float) -> Reservation:
        answer: Reservation = await self._gate.reserve.remote(self._worker, worst_usd)
        return answer

    def settle(self, reserved_usd: float, actual_usd: float) -> None:
        self._gate.settle.remote(self._worker, reserved_usd, actual_usd)

    def cool_down(self, seconds: float) -> None:
        self._gate.cool_down.remote(seconds)

    def overloaded(self) -> None:
        self._gate.overloaded.remote()


class RayRecorder:
    """RecorderClient over the recorder actor (see cluster/remotelog.py)."""

    def __init__(self, recorder: Any) -> None:
        self._recorder = recorder

    async def paid(self, task: Task, model: str, refs: Sequence[ImageRef], cost_usd: float) -> None:
        await self._recorder.paid.remote(task, model, tuple(refs), cost_usd)

    async def image_saved(self, task_id: str, image: SavedImage) -> None:
        await self._recorder.image_saved.remote(task_id, image)

    def attempt_failed(self, task: Task, model: str, attempt: int, note: ErrorNote) -> Any:
        return self._recorder.attempt_failed.remote(task, model, attempt, note)

    def finished(self, outcome: Outcome) -> Any:
        return self._recorder.finished.remote(outcome)

    def queued(self, task_id: str, app: str, urls: Mapping[str, str]) -> None:
        self._recorder.queued.remote(task_id, app, dict(urls))

    async def may_start(self) -> Answer:
        """The driver's start permission; a recorder that cannot be asked (it died with the
        driver) is as good as the driver gone."""
        from ray.exceptions import RayError  # noqa: PLC0415 - only on a Ray worker

        try:
            answer: Answer = await self._recorder.may_start.remote()
        except RayError:
            return "gone"
        return answer


class Worker:
    """Renders chunks; two may run at once (the next is queued while one ends), sharing
    this worker's provider session, limiter, budget and sink."""

    def __init__(self, settings: WorkerSettings, gate: Any, recorder: Any) -> None:
        self._settings = settings
        self._gate: GateClient = RayGate(gate, settings.name)
        self._recorder = RayRecorder(recorder)
        self._recorder_actor = recorder
        self._stack = AsyncExitStack()
        self._provider: Provider | None = None
        manifest = settings.manifest
        self.starts = StartGuard(self._recorder.may_start)
        self._limiter = ClusterLimiter(
            self._gate,
            concurrency=settings.concurrency,
            max_concurrency=settings.ceiling,
            starts=self.starts,
        )
        self._budget = (
            ClusterBudget(self._gate, manifest.max_usd) if manifest.max_usd else Budget(None)
        )
        self._scratch: Path | None = None  # a bucket's staging folder, this worker's own
        self._sink = self._open_sink()

    def __repr__(self) -> str:
        return f"Worker({self._settings.name!r})"

    def pid(self) -> int:
        return os.getpid()

    def _open_sink(self) -> Sink:
        """A bucket: staged in this worker's own folder, then put. A folder (a cluster on
        this one machine): the driver's run directory, prepared by the driver already."""
        manifest = self._settings.manifest
        url = manifest.output.dir.replace("{name}", manifest.name)
        if is_bucket_url(url):
            state = self._scratch = Path(tempfile.mkdtemp(prefix="batchgen-worker-"))
            sink: Sink = BucketSink(url, state, policy=RetryPolicy(wait_scale=self._wait_scale))
            sink.prepare()
            return sink
        return Sink(Path(self._settings.run_dir))

    @property
    def _wait_scale(self) -> float:
        return self._settings.wait_scale

    async def _open(self) -> Provider:
        if self._provider is None:
            manifest = self._settings.manifest
            self._provider = await self._stack.enter_async_context(open_provider(manifest))
            if self._settings.send_settings:
                settings = run_settings(manifest, self._provider)
                settings["executor"] = "ray"
                self._recorder_actor.settings.remote(settings)
        return self._provider

    async def run_chunk(self, chunk: Chunk) -> ChunkResult:
        """Render the chunk's tasks with batchgen's engine; its journal is the driver's."""
        provider = await self._open()
        # fal: the chunk's requests made and never read are read first; new ones are noted
        provider.keep_queue(RemoteQueue(self._recorder.queued, chunk))
        log = RemoteLog(self._recorder, chunk)
        save, render = engine_settings(self._settings.manifest, wait_scale=self._wait_scale)
        engine = build_engine(
            provider=provider,
            limiter=self._limiter,
            budget=self._budget,
            sink=self._sink,
            log=log,
            save=save,
            render=render,
            workers=2 * (self._settings.concurrency or self._settings.ceiling),
            grace_s=self._settings.grace_s,
        )
        try:
            result = await engine.run(chunk.tasks)
        finally:
            await log.drain()
        return ChunkResult(
            chunk.number, result.status, result.reason, result.done, result.failed, result.skipped
        )

    def statistics(self) -> dict[str, int]:
        stats = self._limiter.statistics()
        return {
            "started": stats.started,
            "max_in_flight": stats.max_in_flight,
            "overloads": stats.overloads,
            "tokens_expired": self._limiter.tokens_expired,
            "starts_refused": self.starts.refused,
        }

    async def close(self) -> None:
        """Close the HTTP session and drop the staging folder (a killed worker leaves it in
        the temp folder; nothing in it is needed: every put object is whole in the bucket)."""
        await self._stack.aclose()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
