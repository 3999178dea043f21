"""Prometheus metrics of a run (`batchgen run --metrics-port N`), fed by the Observer hooks alone.

prometheus-client is an optional extra (`pip install 'batchgen[metrics]'`), imported only when
metrics are asked for; each run has its own registry, so two runs in one process never mix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from batchgen.errors import BatchgenError
from batchgen.models import Outcome, Task
from batchgen.run.observer import Observer

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

MISSING = (
    "--metrics-port needs prometheus-client: pip install 'batchgen[metrics]' "
    "(or pip install prometheus-client)"
)
DEFAULT_HOST = "127.0.0.1"  # metrics hold no secret, but a run's figures are the user's to share
LATENCY_BUCKETS_S = (0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300)


class MetricsUnavailable(BatchgenError):
    """prometheus-client is not installed."""


class MetricsObserver(Observer):
    """Counts what the run's hooks report into Prometheus metrics, then passes each hook on to
    `inner` (the live view), so metrics sit beside the view rather than replacing it."""

    def __init__(self, registry: CollectorRegistry, inner: Observer | None = None) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self._inner = inner or Observer()
        self._in_progress: set[str] = set()

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(f"batchgen_{name}", doc, labels, registry=registry)

        self.tasks = counter("tasks", "Tasks that ended, by status (done, failed)", "status")
        self.already_done = counter("tasks_skipped", "Tasks already rendered by an earlier run")
        self.images = counter("images", "Images saved")
        self.spend = counter("spend_usd", "Spend so far, in USD (failed attempts billed included)")
        self.requests = counter(
            "requests", "Requests answered: every failed attempt, every task done"
        )
        self.failures = counter("attempts_failed", "Failed attempts, by kind", "kind")
        self.rate_limited = counter("rate_limited", "Attempts answered 429 (rate limited)")
        self.in_progress = Gauge(
            "batchgen_tasks_in_progress",
            "Tasks taken by a worker and not ended (waiting for a slot or requesting)",
            registry=registry,
        )
        self.latency = Histogram(
            "batchgen_latency_seconds",
            "Seconds per task ended, by phase (request, wait, download, process, total)",
            ["phase"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )

    def skipped(self, count: int, by_model: Mapping[str, int] | None = None) -> None:
        self.already_done.inc(count)
        self._inner.skipped(count, by_model)

    def started(self, task: Task) -> None:
        self._in_progress.add(task.id)
        self.in_progress.set(len(self._in_progress))
        self._inner.started(task)

    def attempt_failed(self, task: Task, model: str, attempt: int, error: BatchgenError) -> None:
        kind = str(getattr(error, "kind", type(error).__name__))
        self.requests.inc()
        self.failures.labels(kind=kind).inc()
        if kind == "rate_limited":
            self.rate_limited.inc()
        self._inner.attempt_failed(task, model, attempt, error)

    def finished(self, outcome: Outcome) -> None:
        self._in_progress.discard(outcome.task.id)
        self.in_progress.set(len(self._in_progress))
        self.tasks.labels(status=outcome.status).inc()
        self.spend.inc(outcome.cost_usd)  # with what its billed failed attempts cost
        if outcome.status == "done":
            self.requests.inc()
            self.images.inc(len(outcome.images))
            timing = outcome.timing
            for phase, seconds in (
                ("request", timing.request_s),
                ("wait", timing.wait_s),
                ("download", timing.download_s),
                ("total", timing.total_s),
            ):
                self.latency.labels(phase=phase).observe(seconds)
            if timing.process_s is not None:  # only runs that convert images have it
                self.latency.labels(phase="process").observe(timing.process_s)
        self._inner.finished(outcome)


def new_registry() -> CollectorRegistry:
    try:
        from prometheus_client import CollectorRegistry
    except ImportError as exc:
        raise MetricsUnavailable(MISSING) from exc
    return CollectorRegistry(auto_describe=True)


class MetricsServer:
    """/metrics served on a thread of prometheus-client's for as long as it is open."""

    def __init__(self, port: int, inner: Observer | None = None, *, host: str = DEFAULT_HOST):
        registry = new_registry()
        self.observer = MetricsObserver(registry, inner)
        from prometheus_client import start_http_server

        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            raise MetricsUnavailable(f"--metrics-port {port}: {exc.strerror or exc}") from exc
        self.port: int = self._server.server_port

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
