"""The budget of a mode: batch run: a batch is paid for as its lines finish, so each submitted
batch holds the worst case of all its tasks (at the batch price) until it is collected."""

from __future__ import annotations

from collections.abc import Sequence

from batchgen import pricing
from batchgen.models import Task


class BatchSpend:
    def __init__(self, max_usd: float | None, *, api: str, resolution: str) -> None:
        if max_usd is not None and max_usd <= 0:
            raise ValueError(f"max_usd must be > 0, got {max_usd}")
        self.max_usd = max_usd
        self._api = api
        self._resolution = resolution
        self._factor = pricing.batch_factor(api) or 1.0
        self.spent_usd = 0.0
        self._held: dict[str, float] = {}  # by batch marker

    def __repr__(self) -> str:
        return f"BatchSpend(max_usd={self.max_usd!r}, spent_usd={self.spent_usd:.4f})"

    def worst_case(self, task: Task) -> float:
        usd = pricing.worst_case_usd(
            task.model, task.num_images, kind=self._api, resolution=self._resolution
        )
        return usd * self._factor

    def fitting(self, tasks: Sequence[Task]) -> int:
        """How many of `tasks`, in order, fit under the cap beside what is held and spent."""
        if self.max_usd is None:
            return len(tasks)
        room = self.max_usd - self.spent_usd - sum(self._held.values())
        for count, task in enumerate(tasks):
            room -= self.worst_case(task)
            if room < -1e-9:
                return count
        return len(tasks)

    def hold(self, marker: str, tasks: Sequence[Task]) -> None:
        self._held[marker] = sum(self.worst_case(task) for task in tasks)

    def settle(self, marker: str, actual_usd: float) -> None:
        """A batch collected: its hold becomes what its answered lines cost."""
        self._held.pop(marker, None)
        self.spent_usd += actual_usd

    def left(self) -> float | None:
        if self.max_usd is None:
            return None
        return max(self.max_usd - self.spent_usd - sum(self._held.values()), 0.0)
