"""The spend cap: a request starts only if its worst case fits under max_usd beside the settled
spend and the worst case of the requests in flight; when it does not fit but others are in
flight, it waits for them to settle (they may cost less than reserved)."""

from __future__ import annotations

import anyio

from batchgen.errors import BudgetExceeded

OVERS_BEFORE_REPRICE = 2  # a model that costs more than its worst case this often is repriced


class Budget:
    """Committed spend = settled cost + worst case of requests in flight.

    `spent_before_usd` is what earlier runs of the job spent (a job-scoped cap): it counts
    against the cap, and `spent_usd` covers this run only."""

    def __init__(self, max_usd: float | None, *, spent_before_usd: float = 0.0) -> None:
        if max_usd is not None and max_usd <= 0:
            raise ValueError(f"max_usd must be > 0, got {max_usd}")
        if spent_before_usd < 0:
            raise ValueError(f"spent_before_usd must be >= 0, got {spent_before_usd}")
        self.max_usd = max_usd
        self.spent_before_usd = spent_before_usd
        self.spent_usd = 0.0
        self.reserved_usd = 0.0
        self.in_flight = 0
        self._settled: anyio.Event | None = None  # made by the first waiter, set on settle
        self._overs: dict[str, int] = {}
        self._observed_per_image: dict[str, float] = {}

    def __repr__(self) -> str:
        return (
            f"Budget(max_usd={self.max_usd!r}, spent_usd={self.spent_usd:.4f}, "
            f"spent_before_usd={self.spent_before_usd:.4f})"
        )

    @property
    def job_spent_usd(self) -> float:
        return self.spent_before_usd + self.spent_usd

    def reserve(self, worst_case_usd: float) -> bool:
        """Claim room for one request now; False when it could take spend past the cap."""
        committed = self.job_spent_usd + self.reserved_usd + worst_case_usd
        if self.max_usd is not None and committed > self.max_usd + 1e-9:
            return False
        self.reserved_usd += worst_case_usd
        self.in_flight += 1
        return True

    async def claim(self, worst_case_usd: float) -> None:
        """Reserve room for one request, waiting while requests in flight may free some;
        BudgetExceeded once it cannot fit with nothing in flight."""
        while not self.reserve(worst_case_usd):
            if self.in_flight == 0:
                self._wake()  # every other waiter sees the same and stops too
                raise BudgetExceeded(
                    f"budget reached: the next request could pass ${self.max_usd:g}"
                )
            if self._settled is None:
                self._settled = anyio.Event()
            await self._settled.wait()

    def settle(self, reserved_usd: float, actual_usd: float) -> None:
        """Replace a reservation with what the request really cost; wake the waiters."""
        self.reserved_usd = max(self.reserved_usd - reserved_usd, 0.0)
        self.in_flight = max(self.in_flight - 1, 0)
        self.spent_usd += actual_usd
        self._wake()

    def _wake(self) -> None:
        if self._settled is not None:
            self._settled.set()
            self._settled = None

    def worst_case(self, model: str, num_images: int, table_usd: float) -> float:
        """The table's worst case, or a model's observed cost once it has passed it twice."""
        observed = self._observed_per_image.get(model)
        if observed is None or self._overs.get(model, 0) < OVERS_BEFORE_REPRICE:
            return table_usd
        return max(table_usd, observed * num_images)

    def over(self, model: str, num_images: int, actual_usd: float) -> None:
        """A request of `model` cost more than its worst case."""
        self._overs[model] = self._overs.get(model, 0) + 1
        per_image = actual_usd / max(num_images, 1)
        self._observed_per_image[model] = max(self._observed_per_image.get(model, 0.0), per_image)
