"""A breaker for systematic rejection: a model whose first PROBE_REQUESTS requests all get the
same non-retryable answer (an unknown model, an invalid parameter) gets no more requests.

Until a model has shown it can answer, at most PROBE_REQUESTS requests to it are out at once,
so a misspelled model costs that many requests, not one per task. A content-policy refusal
is about one prompt, so it proves the model works like a success does; only an answer the
provider marks as refusing the request's shape (`about_request`) counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio

from batchgen.errors import ProviderError, Rejected

PROBE_REQUESTS = 4  # the adaptive limit starts at 4 too: the probe gate does not slow a run


def is_systematic(error: ProviderError) -> bool:
    """An HTTP answer that refuses the request's shape, not one prompt: every task of the
    model would get it too."""
    return isinstance(error, Rejected) and error.about_request


@dataclass(slots=True)
class _Model:
    proven: bool = False
    started: int = 0  # probe requests sent and not yet answered for or against
    same: list[str] = field(default_factory=list)  # the identical rejections so far
    stopped: Rejected | None = None
    changed: anyio.Event | None = None


class Breaker:
    def __init__(self, *, probes: int = PROBE_REQUESTS) -> None:
        if probes < 1:
            raise ValueError(f"probes must be >= 1, got {probes}")
        self._probes = probes
        self._models: dict[str, _Model] = {}

    def __repr__(self) -> str:
        stopped = [m for m, s in self._models.items() if s.stopped]
        return f"Breaker(probes={self._probes}, stopped={stopped})"

    def stopped(self, model: str) -> Rejected | None:
        """The error every further task of a stopped model fails with; None while it runs."""
        state = self._models.get(model)
        return state.stopped if state else None

    async def admit(self, model: str) -> bool:
        """Wait until a request to `model` may be sent; False once the model is stopped."""
        state = self._models.setdefault(model, _Model())
        while not state.proven and state.stopped is None:
            if state.started < self._probes:
                state.started += 1
                return True
            if state.changed is None:
                state.changed = anyio.Event()
            await state.changed.wait()
        return state.stopped is None

    def answered(self, model: str, error: ProviderError | None) -> Rejected | None:
        """How a request to `model` went (None: images came back); the error that stops the
        model when this answer is the one that trips it."""
        state = self._models.setdefault(model, _Model())
        if state.proven or state.stopped is not None:
            return None
        tripped = None
        if error is not None and error.retryable:
            state.started -= 1  # says nothing about the model; another probe may go
        elif error is not None and is_systematic(error):
            tripped = self._count(model, state, error)
        else:
            state.proven = True
        self._wake(state)
        return tripped

    def _count(self, model: str, state: _Model, error: ProviderError) -> Rejected | None:
        if state.same and state.same[0] != error.message:
            state.proven = True  # different answers: about the tasks, not the model
            return None
        state.same.append(error.message)
        if len(state.same) < self._probes:
            return None
        state.stopped = Rejected(
            f"stopped sending to {model}: its first {self._probes} requests were all "
            f"refused with {error.message}",
            status=error.status,
        )
        return state.stopped

    @staticmethod
    def _wake(state: _Model) -> None:
        if state.changed is not None:
            state.changed.set()
            state.changed = None
