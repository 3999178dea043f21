"""fal's queue API (providers.md 4): submit, poll the status URL with backoff, read the result,
and cancel a request whose task is cancelled (best effort, shielded, bounded in time).

fal bills a request when it completes, so a submitted request is never submitted again for a
hiccup after it: a failed status or result GET is asked again in place, and a request that could
not be cancelled (it completed first, or the cancel itself failed) is kept, so the task's next
attempt reads that request's result instead of paying for a new one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import aiohttp
import anyio

from batchgen import catalog
from batchgen.errors import (
    AuthError,
    ModelRetired,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    Rejected,
    ServerError,
)
from batchgen.models import Generation, ImageRef, Task
from batchgen.providers.base import QueueBook
from batchgen.providers.http import Answer, HttpProvider, call, keyless, redacted, same_origin
from batchgen.providers.wire import (
    body_text,
    items,
    json_object,
    mapping,
    maybe_json,
    shorten,
    string,
)
from batchgen.retry import parse_retry_after

DEFAULT_BASE_URL = "https://queue.fal.run"
KEY_ENVS = ("FAL_KEY",)
POLL_FIRST_S = 0.1
POLL_FACTOR = 1.5
POLL_MAX_S = 2.0
CANCEL_TIMEOUT_S = 5.0
GET_ATTEMPTS = 6  # a status or result GET that fails for load or the network is asked again
_WAITING = ("IN_QUEUE", "IN_PROGRESS")
_CANCELLED = "CANCELLATION_REQUESTED"


def poll_delay_s(polls: int, *, first: float = POLL_FIRST_S, most: float = POLL_MAX_S) -> float:
    """Seconds before status poll number `polls` (from 0): quick at first, then every `most`."""
    return min(first * POLL_FACTOR ** min(polls, 64), most)


class FalProvider(HttpProvider):
    kind = "fal"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str | None,
        poll_first_s: float = POLL_FIRST_S,
        poll_max_s: float = POLL_MAX_S,
    ) -> None:
        if not 0 < poll_first_s <= poll_max_s:
            raise ValueError(
                f"need 0 < poll_first_s <= poll_max_s, got {poll_first_s}, {poll_max_s}"
            )
        super().__init__(session, base_url=base_url, api_key=api_key)
        self._base = self._base_url
        self._poll = (poll_first_s, poll_max_s)
        # (task id, app) -> the queue URLs of a request that may be paid for and was not read
        self._kept: dict[tuple[str, str], dict[str, str]] = {}
        self._book: QueueBook | None = None

    def keep_queue(self, book: QueueBook) -> None:
        """Requests an earlier run made and never read are read first; each new one is noted."""
        self._book = book
        self._kept.update(book.kept)

    async def generate(self, task: Task, *, model: str) -> Generation:
        app = catalog.wire_model(self.kind, model)
        key = (task.id, app)
        kept = self._kept.pop(key, None)
        if kept is not None:
            try:
                return await self._finish(key, kept, model)
            except (Rejected, ServerError) as exc:
                if exc.status not in (400, 404):
                    raise
                # it was cancelled after all, or is gone: nothing to read, nothing billed
                self._kept.pop(key, None)
        ticket = await self._submit(f"{self._base}/{app}", request_body(task))
        if self._book is not None:  # before the wait: a kill from here on loses nothing paid
            self._book.accepted(task.id, app, ticket)
        return await self._finish(key, ticket, model)

    async def _finish(self, key: tuple[str, str], ticket: dict[str, str], model: str) -> Generation:
        finished = False
        try:
            await self._wait(ticket["status_url"])
            result = await self._get(ticket["response_url"], "result")
            generation = parse_result(result.body, model=model)  # a bad one is read, not re-paid
            finished = True
        finally:
            # cancelled, timed out or failed: free the queue slot we hold, or keep the request
            # for the next attempt when it may have been billed already
            if not finished and await self._cancel(ticket["cancel_url"]) != _CANCELLED:
                self._kept[key] = ticket
        return keyless(generation)

    async def _submit(self, url: str, body: dict[str, Any]) -> dict[str, str]:
        answer = await call(self._session, "POST", url, headers=self._headers(url), json=body)
        if answer.status not in (200, 201, 202):
            raise self._error(answer, "submit")
        data = json_object(answer.body)
        ticket = {
            key: string(data.get(key)) for key in ("status_url", "response_url", "cancel_url")
        }
        request_id = string(data.get("request_id"))
        missing = [key for key, value in ticket.items() if value is None]
        if missing or request_id is None:
            raise ServerError(
                f"fal accepted the request but did not say {', '.join(missing) or 'request_id'}"
            )
        return {key: value for key, value in ticket.items() if value is not None}

    async def _wait(self, status_url: str) -> None:
        polls = 0
        while True:
            await anyio.sleep(poll_delay_s(polls, first=self._poll[0], most=self._poll[1]))
            polls += 1
            status = string(json_object((await self._get(status_url, "status")).body).get("status"))
            if status == "COMPLETED":
                return
            if status not in _WAITING:
                raise ServerError(
                    f"fal status is {status!r}; expected IN_QUEUE, IN_PROGRESS or COMPLETED"
                )

    async def _get(self, url: str, what: str) -> Answer:
        """GET a status or result URL; asking again costs nothing, submitting again would."""
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = await call(self._session, "GET", url, headers=self._headers(url))
            except (ServerError, ProviderTimeout) as exc:  # the network, on the way
                error: ProviderError = exc
            else:
                if answer.status == 200:
                    return answer
                error = self._error(answer, what)
            again = isinstance(error, (RateLimited, ServerError, ProviderTimeout))
            if not again or error.status == 404 or attempt == GET_ATTEMPTS:
                raise error
            await anyio.sleep(error.retry_after or poll_delay_s(attempt, most=self._poll[1]))

    async def _cancel(self, url: str) -> str | None:
        """PUT the cancel URL, shielded from the cancellation that brought us here, for at most
        CANCEL_TIMEOUT_S. Returns fal's answer: CANCELLATION_REQUESTED, ALREADY_COMPLETED (the
        request is billed), or None when the cancel itself failed."""
        with (
            anyio.CancelScope(shield=True),
            anyio.move_on_after(CANCEL_TIMEOUT_S),
            contextlib.suppress(ProviderError),
        ):
            answer = await call(self._session, "PUT", url, headers=self._headers(url))
            return string(mapping(maybe_json(answer.body)).get("status"))
        return None

    def _headers(self, url: str) -> dict[str, str]:
        """The key goes to the queue host only; URLs fal hands us elsewhere get none."""
        if self._api_key and same_origin(url, self._base):
            return {"Authorization": f"Key {self._api_key}"}
        return {}

    def _error(self, answer: Answer, what: str) -> ProviderError:
        return redacted(error_for(answer.status, answer.body, answer.headers, what), self._api_key)


def request_body(task: Task) -> dict[str, Any]:
    body: dict[str, Any] = dict(task.params)
    body.update(prompt=task.prompt, num_images=task.num_images, aspect_ratio=task.aspect_ratio)
    if task.resolution != "1K":
        body["resolution"] = task.resolution
    if task.seed is not None:
        body["seed"] = task.seed
    return body


def parse_result(body: bytes, *, model: str) -> Generation:
    """{"images": [{"url", "content_type", ...}], "seed"}."""
    data = json_object(body)
    refs = []
    for index, item in enumerate(items(data.get("images"))):
        url = string(mapping(item).get("url"))
        if url is None:
            raise ServerError(f"images[{index}] has no url")
        refs.append(
            ImageRef(index=index, url=url, mime_type=string(mapping(item).get("content_type")))
        )
    if not refs:
        raise Rejected("the provider returned no images (filtered?)")
    seed = data.get("seed")
    return Generation(images=tuple(refs), model=model, seed=seed if isinstance(seed, int) else None)


def error_for(
    status: int, body: bytes, headers: Mapping[str, str], what: str = "submit"
) -> ProviderError:
    """Classify by status; fal's body is {"detail": text or [{loc, msg, type}]}."""
    message = f"HTTP {status} ({what}): {_detail(body)}"
    if status == 429:
        return RateLimited(
            message, status=status, retry_after=parse_retry_after(headers.get("Retry-After"))
        )
    if status in (401, 403):
        return AuthError(message, status=status)  # bad key, or a locked account (no balance)
    if status == 404 and what == "submit":
        return ModelRetired(message, status=status)  # no such app
    if status in (404, 408) or status >= 500:
        return ServerError(message, status=status)
    return Rejected(message, status=status)  # 400, 422: input the model will not take


def _detail(body: bytes) -> str:
    detail = mapping(maybe_json(body)).get("detail")
    if isinstance(detail, str):
        return shorten(detail)
    problems = [mapping(item) for item in items(detail)]
    if problems:
        return shorten(
            "; ".join(
                f"{'.'.join(map(str, items(p.get('loc'))))}: {p.get('msg')}" for p in problems
            )
        )
    return body_text(body)
