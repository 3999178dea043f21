"""What the batch APIs' clients share: the seam the batch executor talks to, and one request."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from batchgen.errors import ProviderError
from batchgen.models import Generation, Task
from batchgen.providers.http import Answer, _capped_body, mapped_errors, redacted

# A results file is read whole; 50 requests of 1K images is ~100 MB of base64 (2K: 4x that).
MAX_RESULTS_BYTES = 1024 * 1024 * 1024
DEFAULT_CHUNK = 50  # requests per batch: small, so no results file outgrows memory (issue 15)


@dataclass(frozen=True, slots=True)
class RemoteBatch:
    """A batch as the provider reports it: its id, its own state word, and whether it is over
    (then `results` can be read; unanswered requests were not done and may be sent again)."""

    id: str
    state: str
    ended: bool = False
    ok: bool = True  # ended well (completed / succeeded), else failed, expired or cancelled


@dataclass(frozen=True, slots=True)
class LineResult:
    """One request's answer in a finished batch: a generation, or the provider's error."""

    key: str
    generation: Generation | None = None
    error: ProviderError | None = None


class BatchClient(abc.ABC):
    """One provider's batch API."""

    api: str = "batch"
    max_requests: int = 50_000  # the API's own cap; the runner sends smaller chunks

    @abc.abstractmethod
    async def submit(self, marker: str, model: str, tasks: Sequence[Task]) -> RemoteBatch:
        """Upload the requests and create one batch named by `marker` (keys: task ids)."""

    @abc.abstractmethod
    async def find(self, marker: str) -> RemoteBatch | None:
        """The batch created under `marker`, if the provider has one (after a kill)."""

    @abc.abstractmethod
    async def status(self, remote_id: str) -> RemoteBatch: ...

    @abc.abstractmethod
    async def results(self, remote: RemoteBatch, model: str) -> list[LineResult]:
        """Every answered request of a finished batch, successes and per-line errors."""


async def send(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    json: Any = None,
    data: Any = None,
    max_bytes: int = MAX_RESULTS_BYTES,
) -> Answer:
    """One batch API request (JSON, form or raw body); redirects never followed, as for live."""
    with mapped_errors(f"{method} {url}"):
        async with session.request(
            method, url, json=json, data=data, headers=dict(headers), allow_redirects=False
        ) as response:
            body = await _capped_body(response, max_bytes, f"{method} {url}")
            return Answer(response.status, CIMultiDictProxy(CIMultiDict(response.headers)), body)


def checked(answer: Answer, error: ProviderError, secret: str | None) -> Answer:
    """The answer if it is a 200, else `error` (already classified by the caller) redacted."""
    if answer.status != 200:
        raise redacted(error, secret)
    return answer
