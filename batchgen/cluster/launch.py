"""Reaching Ray: importing it (only here, only when asked), a session started for the run or an
existing cluster, and the run's actors (the key's gate, the driver's recorder, the workers)."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from batchgen.cluster.gate import KeyGate
from batchgen.cluster.recorder import Recorder
from batchgen.cluster.worker import Worker, WorkerSettings
from batchgen.errors import BatchgenError, ManifestError
from batchgen.models import Manifest
from batchgen.providers import KINDS

LOCAL = "ray"  # --executor ray: RAY_ADDRESS if set, else a Ray started on loopback for the run
NAMESPACE = "batchgen"
EXTRA_HINT = "pip install 'batchgen[ray]'"


class ClusterError(BatchgenError):
    """The cluster failed the run (workers kept dying, the driver's recorder was lost)."""


def import_ray() -> Any:  # Any: typed alike with or without the extra installed
    try:
        import ray  # noqa: PLC0415 - the ray extra: loaded only for --executor ray
    except ImportError as exc:
        raise ManifestError(
            [f"--executor ray needs the ray extra, which is not installed: {EXTRA_HINT}"]
        ) from exc
    return ray


def address_of(executor: str) -> str | None:
    """Where the cluster is: ray://host:port as given, RAY_ADDRESS for `ray`, else None (a
    local Ray started for this run)."""
    if executor.startswith("ray://"):
        return executor
    if executor != LOCAL:
        raise ManifestError([f"--executor: {executor!r} is not one of local, ray, ray://host:port"])
    return os.environ.get("RAY_ADDRESS") or None


@contextmanager
def ray_session(address: str | None, *, num_cpus: int | None = None) -> Iterator[ModuleType]:
    """A Ray session for the run: one that is already up (a test's, a notebook's) is used and
    left running; else an existing cluster is joined, or a local one started with no
    dashboard, and shut down at the end."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    # ERROR: Ray's start-up notes (token authentication on, a local instance started) would
    # be every run's first lines
    quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address is None:
        # Ray maps a loopback node address to the machine's own and listens on every interface
        # (2.60); what guards a local instance is its token authentication (on by default for
        # local instances since 2.59), so no dashboard or Ray Client server is started either.
        cpus = max(os.cpu_count() or 1, num_cpus or 0)
        ray.init(num_cpus=cpus, include_dashboard=False, namespace=NAMESPACE, **quiet)
    else:
        ray.init(address=address, namespace=NAMESPACE, **quiet)
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_cpus(ray: ModuleType) -> int:
    """--workers' default: the cores Ray reports over all its nodes."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def gate_name(manifest: Manifest) -> str:
    """The key's gate is named by a digest of the service and the key (never the key): a
    second job on one key at once finds the name taken and is told so."""
    config = manifest.provider
    names = (config.api_key_env,) if config.api_key_env else KINDS[config.api].key_envs
    key = next((value for name in names if (value := os.environ.get(name, "").strip())), "")
    origin = config.base_url or KINDS[config.api].base_url
    digest = hashlib.sha256(f"{config.api}\n{origin}\n{key}".encode()).hexdigest()
    return f"batchgen-gate-{digest[:16]}"


def start_gate(ray: ModuleType, manifest: Manifest, *, spent_before_usd: float) -> Any:
    name = gate_name(manifest)
    try:
        ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        pass
    else:
        raise ClusterError(
            "another batchgen job on this cluster is using this API key (its limiter is "
            "running); run one job per key at a time, or wait for it to end"
        )
    gate = ray.remote(KeyGate).options(name=name, namespace=NAMESPACE, num_cpus=0)
    return gate.remote(
        requests_per_minute=manifest.limits.requests_per_minute,
        max_usd=manifest.max_usd,
        spent_before_usd=spent_before_usd,
    )


def start_recorder(ray: ModuleType) -> Any:
    """The recorder on the driver's own node: the run directory is on its disk."""
    from ray.util.scheduling_strategies import (  # noqa: PLC0415 - see import_ray
        NodeAffinitySchedulingStrategy,
    )

    here = ray.get_runtime_context().get_node_id()
    strategy = NodeAffinitySchedulingStrategy(node_id=here, soft=False)
    return ray.remote(Recorder).options(num_cpus=0, scheduling_strategy=strategy).remote()


def start_worker(ray: ModuleType, settings: WorkerSettings, gate: Any, recorder: Any) -> Any:
    worker = ray.remote(Worker).options(num_cpus=1, max_concurrency=8)
    return worker.remote(settings, gate, recorder)
