"""The spend cap: a request is started only if its worst case still fits under max_usd."""

from __future__ import annotations


class Budget:
    """Committed spend = settled cost + worst case of requests in flight."""

    def __init__(self, max_usd: float | None) -> None:
        if max_usd is not None and max_usd <= 0:
            raise ValueError(f"max_usd must be > 0, got {max_usd}")
        self.max_usd = max_usd
        self.spent_usd = 0.0
        self.reserved_usd = 0.0

    def __repr__(self) -> str:
        return f"Budget(max_usd={self.max_usd!r}, spent_usd={self.spent_usd:.4f})"

    def reserve(self, worst_case_usd: float) -> bool:
        """Claim room for one request; False when it could take spend past the cap."""
        committed = self.spent_usd + self.reserved_usd + worst_case_usd
        if self.max_usd is not None and committed > self.max_usd + 1e-9:
            return False
        self.reserved_usd += worst_case_usd
        return True

    def settle(self, reserved_usd: float, actual_usd: float) -> None:
        """Replace a reservation with what the request really cost."""
        self.reserved_usd = max(self.reserved_usd - reserved_usd, 0.0)
        self.spent_usd += actual_usd
