"""What both emulated batch APIs share: stored files, batch jobs and their clock-driven states.

A job's phase comes from how long ago it was created, against the emulator's batch turnaround
(`batch_s`, scaled by `time_scale`); its answers are made once, when a poll first finds it over.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from batchgen.emulator.state import STATE, State

# Shares of the turnaround spent waiting (validating/pending) and finishing (finalizing).
WAITING_SHARE = 0.1
FINALIZING_SHARE = 0.9
BATCH_DISCOUNT = 0.5  # both batch APIs bill half the live price
EXPIRED_SHARE = 0.5  # an expiring job answers this share of its requests, the rest expire


@dataclass(frozen=True, slots=True)
class Line:
    """One request's end: ok with the dialect's answer body, or an error (status, message)."""

    key: str
    ok: bool
    body: dict[str, Any]
    status: int = 200
    message: str = ""


@dataclass(slots=True, eq=False)
class Job:
    """One batch job as the emulator holds it."""

    id: str
    created: float
    requests: list[tuple[str, dict[str, Any]]]
    expires: bool
    labels: dict[str, Any] = field(default_factory=dict)  # metadata / displayName / model
    cancelled: bool = False
    lines: list[Line] | None = None  # made when the job is first seen over
    expired_keys: list[str] = field(default_factory=list)

    def phase(self, state: State, now: float) -> str:
        """pending, running, finalizing, done, expired or cancelled."""
        if self.cancelled:
            return "cancelled"
        total = state.scaled(state.config.batch_s)
        elapsed = now - self.created
        if total <= 0 or elapsed >= total:
            return "expired" if self.expires else "done"
        if elapsed < total * WAITING_SHARE:
            return "pending"
        return "running" if elapsed < total * FINALIZING_SHARE else "finalizing"


Answerer = Callable[[State, str, dict[str, Any]], Awaitable[Line]]


@dataclass(slots=True, eq=False)
class Store:
    """Files and jobs of one emulator (both dialects keep theirs apart by id prefix)."""

    files: dict[str, tuple[bytes, dict[str, Any]]] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    created: itertools.count[int] = field(default_factory=itertools.count)
    uploads: set[str] = field(default_factory=set)  # Files API upload sessions started

    def add_file(self, data: bytes, info: dict[str, Any], prefix: str) -> str:
        file_id = f"{prefix}{uuid.uuid4().hex[:24]}"
        self.files[file_id] = (data, info)
        return file_id

    def add_job(
        self,
        state: State,
        prefix: str,
        requests: list[tuple[str, dict[str, Any]]],
        labels: dict[str, Any],
    ) -> Job:
        """Count every key submitted (tests check nothing is sent twice); the first
        `batch_expiries` jobs of the emulator expire part-way."""
        expires = next(self.created) < state.config.batch_expiries
        for key, _ in requests:
            state.stats.batch_submitted[key] += 1
        state.stats.batches_created += 1
        job = Job(f"{prefix}{uuid.uuid4().hex[:24]}", state.clock(), requests, expires, labels)
        self.jobs[job.id] = job
        return job


STORE = web.AppKey("batchgen_emulator_batch_store", Store)


def add_store(app: web.Application) -> None:
    """Give the app its batch store (once: both batch dialects call this when routed)."""
    if STORE not in app:
        app[STORE] = Store()


def store_of(request: web.Request) -> Store:
    return request.app[STORE]


def state_of(request: web.Request) -> State:
    return request.app[STATE]


def line_fails(state: State, key: str) -> bool:
    """A stable draw per key: the same request fails the same way when sent again."""
    rate = state.config.batch_line_error_rate
    digest = hashlib.sha256(f"{state.config.seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


async def settle(job: Job, state: State, phase: str, answer: Answerer) -> None:
    """Make the job's answers once it is over (an expired job answers only its first share)."""
    if job.lines is not None or phase not in ("done", "expired", "cancelled"):
        return
    answered = job.requests
    if phase != "done":
        share = EXPIRED_SHARE if phase == "expired" else 0.0
        cut = int(len(job.requests) * share)
        answered = job.requests[:cut]
        job.expired_keys = [key for key, _ in job.requests[cut:]]
    job.lines = [await answer(state, key, body) for key, body in answered]
