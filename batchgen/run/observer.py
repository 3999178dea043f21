"""The hooks a progress view (or metrics) overrides: skipped, started, attempt_failed, finished,
model_stopped, budget, load, stopping."""

from __future__ import annotations

from collections.abc import Mapping

from batchgen.errors import BatchgenError
from batchgen.models import Outcome, Task


class Observer:
    """Hooks for progress views; every method is optional to override."""

    def skipped(self, count: int, by_model: Mapping[str, int] | None = None) -> None:
        """`count` tasks were already rendered by an earlier run (`by_model`: how many each)."""

    def started(self, task: Task) -> None:
        """A worker took `task` (it waits for a slot, then requests); `finished` follows unless
        the run stops first."""

    def attempt_failed(self, task: Task, model: str, attempt: int, error: BatchgenError) -> None:
        """One attempt failed (it may be retried)."""

    def finished(self, outcome: Outcome) -> None:
        """A task ended, rendered or failed, and is in the journal."""

    def budget(self, max_usd: float, spent_before_usd: float, scope: str) -> None:
        """The run's cap, before any request; with scope "job", what earlier runs spent."""

    def model_stopped(self, model: str, reason: str) -> None:
        """No more requests go to `model`: its first requests were all refused alike (the
        systematic-rejection breaker). Called once per model."""

    def load(self, *, in_flight: int, limit: int, adaptive: bool) -> None:
        """Sampled about once a second: requests in flight and the concurrency limit now."""

    def stopping(self, in_flight: int) -> None:
        """The run is stopping (first Ctrl-C, budget, a bad key): no new request starts; the
        `in_flight` tasks get the grace period to finish (a second Ctrl-C aborts them)."""
