"""`batchgen run --executor ray`: the driver reads the manifest, has its recorder skip done
tasks, feeds chunks to N worker actors, and redoes the chunks of a worker that died (their
paid generations are fetched, not paid again); then the recorder writes the report."""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio.from_thread

from batchgen.cluster import launch
from batchgen.cluster.liveness import DriverId, heartbeat
from batchgen.cluster.recorder import Opened
from batchgen.cluster.records import DEFAULT_CHUNK, ChunkResult
from batchgen.cluster.worker import WorkerSettings
from batchgen.errors import BatchgenError, ManifestError
from batchgen.expand import expand
from batchgen.models import Manifest, Task
from batchgen.providers import serve_emulator
from batchgen.run.adaptive import DEFAULT_CEILING
from batchgen.run.engine import RunResult, RunStatus
from batchgen.run.job import JobResult, RunOptions, with_overrides
from batchgen.run.prepare import check_prices
from batchgen.store.bucket import is_bucket_url

CHUNKS_AHEAD = 2  # chunks queued per worker: the next starts as soon as one ends
CLOSE_WAIT_S = 5.0  # for the workers to close their sessions before they are ended
MAX_REPLACEMENTS_PER_WORKER = 3  # workers that keep dying stop the run
EMULATOR_KEY_ENV = "BATCHGEN_EMULATOR_KEY"  # the run's throwaway emulator key, for local workers


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterOptions:
    executor: str = launch.LOCAL
    workers: int | None = None  # None: the cores Ray reports
    chunk: int = DEFAULT_CHUNK
    # tests: told of each chunk's end, with the live worker handles (to kill one mid-run)
    on_chunk: Callable[[ChunkResult, Sequence[Any]], None] | None = field(default=None)


def run_on_ray(
    manifest: Manifest, options: RunOptions | None = None, cluster: ClusterOptions | None = None
) -> JobResult:
    """Run a job on Ray to the end (blocking) and write its report."""
    options, cluster = options or RunOptions(), cluster or ClusterOptions()
    manifest = with_overrides(manifest, options)
    check_prices(manifest)
    address = launch.address_of(cluster.executor)
    _check_output(manifest, remote=address is not None)
    with ExitStack() as stack:
        manifest = stack.enter_context(_reachable_provider(manifest, remote=address is not None))
        ray = stack.enter_context(launch.ray_session(address, num_cpus=cluster.workers))
        return _Driver(ray, manifest, options, cluster).run()


def _check_output(manifest: Manifest, *, remote: bool) -> None:
    if remote and not is_bucket_url(manifest.output.dir):
        raise ManifestError(
            [
                f"{manifest.source or 'manifest'}: output.dir: a cluster's workers cannot write "
                "into this machine's folder; use a bucket (s3://, gs://, az://) with --executor "
                "ray://... or RAY_ADDRESS"
            ]
        )
    if remote and manifest.provider.kind == "emulator" and manifest.provider.base_url is None:
        raise ManifestError(
            [
                f"{manifest.source or 'manifest'}: provider: the built-in emulator listens on "
                "this machine's loopback; a cluster's workers need provider.base_url"
            ]
        )


@contextmanager
def _reachable_provider(manifest: Manifest, *, remote: bool) -> Iterator[Manifest]:
    """The built-in emulator is started here once, for every local worker to share (one
    server: its rpm is the one the cluster must keep); workers find it by base_url and its
    throwaway key in their environment (inherited from this process, never written)."""
    config = manifest.provider
    if remote or config.kind != "emulator" or config.base_url is not None:
        yield manifest
        return
    env = config.api_key_env or EMULATOR_KEY_ENV
    os.environ.setdefault(env, secrets.token_urlsafe(24))
    keyed = dataclasses.replace(manifest, provider=dataclasses.replace(config, api_key_env=env))
    with (
        anyio.from_thread.start_blocking_portal(backend="asyncio") as portal,
        portal.wrap_async_context_manager(serve_emulator(keyed)) as (root, _),
    ):
        provider = dataclasses.replace(keyed.provider, base_url=root)
        yield dataclasses.replace(keyed, provider=provider)


class _Driver:
    def __init__(
        self, ray: ModuleType, manifest: Manifest, options: RunOptions, cluster: ClusterOptions
    ) -> None:
        self._ray = ray
        self._manifest = manifest
        self._options = options
        self._cluster = cluster
        self._recorder: Any = None
        self._gate: Any = None
        self._workers: list[Any] = []
        self._replacements = 0
        self._counts = {"done": 0, "failed": 0, "skipped": 0}
        self._status: RunStatus = "complete"
        self._reason: str | None = None

    def run(self) -> JobResult:
        started = time.monotonic()
        ray = self._ray
        self._recorder = launch.start_recorder(ray)
        here = DriverId.here()  # workers start no request once this process is gone
        opened = ray.get(self._recorder.open.remote(self._manifest, self._options, here))
        if isinstance(opened, BatchgenError):
            ray.kill(self._recorder)
            raise opened
        status = "aborted"
        try:
            with heartbeat(self._recorder.beat.remote):  # a driver on another machine
                self._start(opened)
                self._feed(opened.manifest)
            status = self._status
        except KeyboardInterrupt:
            self._stop("interrupted", "stopped by SIGINT")
            status = "cancelled"
            raise
        finally:
            self._stop_workers()
            summary = ray.get(
                self._recorder.end.remote(
                    wall_s=time.monotonic() - started,
                    status=status,
                    html=self._options.html,
                    manifest=opened.manifest,
                )
            )
            ray.kill(self._recorder)
        result = RunResult(
            self._status,
            self._reason,
            wall_s=time.monotonic() - started,
            **self._counts,
        )
        return JobResult(run_dir=Path(opened.run_dir), result=result, summary=summary)

    @property
    def _stopping(self) -> bool:
        return self._status != "complete"

    def _stop(self, status: RunStatus, reason: str | None) -> None:
        if not self._stopping:  # the first reason given is the one reported
            self._status, self._reason = status, reason

    def _start(self, opened: Opened) -> None:
        ray, manifest = self._ray, opened.manifest
        self._gate = launch.start_gate(ray, manifest, spent_before_usd=opened.spent_before_usd)
        count = self._cluster.workers or launch.cluster_cpus(ray)
        if manifest.limits.concurrency is not None:  # each worker holds a slot at least
            count = min(count, manifest.limits.concurrency)
        self._settings = [self._settings_for(opened, index, count) for index in range(count)]
        self._workers = [
            launch.start_worker(ray, settings, self._gate, self._recorder)
            for settings in self._settings
        ]

    def _settings_for(self, opened: Opened, index: int, count: int) -> WorkerSettings:
        """Worker `index` of `count`: its share of the concurrency (the shares sum to the
        manifest's), or of the adaptive limit's ceiling."""
        total = opened.manifest.limits.concurrency
        share = None if total is None else total // count + (1 if index < total % count else 0)
        return WorkerSettings(
            manifest=opened.manifest,
            run_dir=opened.run_dir,
            name=f"w{index}",
            concurrency=share,
            ceiling=max(1, math.ceil(DEFAULT_CEILING / count)),
            wait_scale=self._options.wait_scale,
            grace_s=self._options.grace_s,
            send_settings=index == 0,
        )

    def _feed(self, manifest: Manifest) -> None:
        """Keep CHUNKS_AHEAD chunks queued at every worker until the tasks run out or the run
        stops; a dead worker's chunks go to the front of the line."""
        batches = _batches(expand(manifest), self._cluster.chunk)
        redo: deque[tuple[Task, ...]] = deque()
        numbers = itertools.count()
        outstanding: dict[Any, tuple[int, Any, tuple[Task, ...]]] = {}
        while True:
            if not self._stopping:
                self._fill(outstanding, batches, redo, numbers)
            if not outstanding:
                return
            ready, _ = self._ray.wait(list(outstanding), num_returns=1)
            for ref in ready:
                index, worker, tasks = outstanding.pop(ref)
                self._collect(ref, index, worker, tasks, redo)

    def _fill(
        self,
        outstanding: dict[Any, tuple[int, Any, tuple[Task, ...]]],
        batches: Iterator[tuple[Task, ...]],
        redo: deque[tuple[Task, ...]],
        numbers: Iterator[int],
    ) -> None:
        load = [0] * len(self._workers)
        for index, _, _ in outstanding.values():
            load[index] += 1
        for index, worker in enumerate(self._workers):
            while load[index] < CHUNKS_AHEAD:
                tasks = redo.popleft() if redo else next(batches, None)
                if tasks is None:
                    return
                planned = self._ray.get(self._recorder.plan.remote(next(numbers), tasks))
                self._counts["skipped"] += sum(planned.skipped_by_model.values())
                if planned.chunk.tasks:
                    ref = worker.run_chunk.remote(planned.chunk)
                    outstanding[ref] = (index, worker, planned.chunk.tasks)
                    load[index] += 1

    def _collect(
        self,
        ref: Any,
        index: int,
        worker: Any,
        tasks: tuple[Task, ...],
        redo: deque[tuple[Task, ...]],
    ) -> None:
        errors = self._ray.exceptions
        try:
            result: ChunkResult = self._ray.get(ref)
        except errors.RayActorError:  # killed, or its process or node died
            redo.append(tasks)  # re-planned: done ones skipped, paid ones fetched
            self._replace(index, worker)
            return
        except errors.RayTaskError as exc:  # a bug or a lost recorder: stop, say what
            cause = exc.cause if isinstance(exc.cause, BaseException) else exc
            self._stop("aborted", f"a worker failed: {type(cause).__name__}: {cause}")
            return
        self._counts["done"] += result.done
        self._counts["failed"] += result.failed
        self._counts["skipped"] += result.skipped
        if result.status != "complete":
            self._stop(result.status, result.reason)
        if self._cluster.on_chunk is not None:
            self._cluster.on_chunk(result, tuple(self._workers))

    def _replace(self, index: int, dead: Any) -> None:
        """A new worker in a dead one's place (once per death); the gate keeps what the dead
        one had reserved as spent (it may have paid), its tokens expire unused."""
        if self._workers[index] is not dead:
            return  # replaced already, when its other chunk failed
        self._gate.forget.remote(self._settings[index].name)
        self._replacements += 1
        if self._replacements > MAX_REPLACEMENTS_PER_WORKER * len(self._workers):
            self._stop("aborted", f"workers died {self._replacements} times; stopping")
            return
        name = f"w{index}.{self._replacements}"
        self._settings[index] = dataclasses.replace(self._settings[index], name=name)
        self._workers[index] = launch.start_worker(
            self._ray, self._settings[index], self._gate, self._recorder
        )

    def _stop_workers(self) -> None:
        """Close the workers' HTTP sessions (briefly waited for), then end every actor."""
        closing = [worker.close.remote() for worker in self._workers]
        if closing:
            self._ray.wait(closing, num_returns=len(closing), timeout=CLOSE_WAIT_S)
        for actor in [*self._workers, self._gate]:
            if actor is not None:
                self._ray.kill(actor)
        self._workers, self._gate = [], None


def _batches(tasks: Iterator[Task] | Any, size: int) -> Iterator[tuple[Task, ...]]:
    iterator = iter(tasks)
    while batch := tuple(itertools.islice(iterator, size)):
        yield batch
