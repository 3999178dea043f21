"""The OpenAI Batch API for image generation: upload a JSONL file (purpose=batch), create a batch
on /v1/images/generations with a 24h window, poll it, read its output and error files.

Facts (platform.openai.com/docs/guides/batch and /docs/api-reference/batch; the openai SDK's
types/batch.py): at most 50,000 requests and 200 MB per input file; statuses validating,
in_progress, finalizing, completed, failed, expired, cancelling, cancelled; output lines
{id, custom_id, response: {status_code, request_id, body}, error}; requests that failed are in
error_file_id, on expiry with error.code batch_expired; finished work of an expired batch is
returned (and billed). Images come back inline as b64_json.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import aiohttp

from batchgen.errors import ProviderError, Rejected, ServerError
from batchgen.models import Task
from batchgen.providers import openai
from batchgen.providers.batch_base import (
    BatchClient,
    LineResult,
    RemoteBatch,
    checked,
    send,
)
from batchgen.providers.wire import json_object, mapping, string

ENDPOINT = "/v1/images/generations"
MAX_REQUESTS = 50_000
MAX_FILE_BYTES = 200 * 1024 * 1024
MARKER_KEY = "batchgen_marker"  # in the batch's metadata: how a rerun finds a batch it made
LIST_PAGES = 20  # pages of 100 searched for a marker (the newest batches come first)
ENDED = {"completed": True, "failed": False, "expired": False, "cancelled": False}


class OpenAIBatchClient(BatchClient):
    api = "openai"
    max_requests = MAX_REQUESTS

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str | None,
        file_format: openai.FileFormat | None = None,
    ) -> None:
        self._session = session
        self._file_format = file_format  # output.format, asked of GPT image models
        self._base = base_url.rstrip("/")
        self._key = api_key
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def __repr__(self) -> str:
        return f"OpenAIBatchClient(base_url={self._base!r})"  # never the key

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = await send(
            self._session, method, self._base + path, headers=self._headers, **kwargs
        )
        error = openai.error_for(answer.status, answer.body, answer.headers)
        return dict(json_object(checked(answer, error, self._key).body))

    async def submit(self, marker: str, model: str, tasks: Sequence[Task]) -> RemoteBatch:
        lines = [
            {
                "custom_id": task.id,
                "method": "POST",
                "url": ENDPOINT,
                "body": openai.request_body(task, model, self._file_format),
            }
            for task in tasks
        ]
        data = "".join(json.dumps(line) + "\n" for line in lines).encode()
        if len(lines) > MAX_REQUESTS or len(data) > MAX_FILE_BYTES:
            raise Rejected(f"a batch file holds {MAX_REQUESTS} requests / 200 MB at most")
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", data, filename=f"{marker}.jsonl", content_type="application/jsonl")
        uploaded = await self._call("POST", "/files", data=form)
        body = {
            "input_file_id": uploaded["id"],
            "endpoint": ENDPOINT,
            "completion_window": "24h",
            "metadata": {MARKER_KEY: marker},
        }
        return _remote(await self._call("POST", "/batches", json=body))

    async def find(self, marker: str) -> RemoteBatch | None:
        after: str | None = None
        for _ in range(LIST_PAGES):
            query = "?limit=100" + (f"&after={after}" if after else "")
            page = await self._call("GET", f"/batches{query}")
            for item in page.get("data") or []:
                if mapping(mapping(item).get("metadata")).get(MARKER_KEY) == marker:
                    return _remote(mapping(item))
            after = string(page.get("last_id"))
            if not page.get("has_more") or after is None:
                return None
        return None

    async def status(self, remote_id: str) -> RemoteBatch:
        return _remote(await self._call("GET", f"/batches/{remote_id}"))

    async def results(self, remote: RemoteBatch, model: str) -> list[LineResult]:
        batch = await self._call("GET", f"/batches/{remote.id}")
        found: list[LineResult] = []
        for field in ("output_file_id", "error_file_id"):
            if file_id := string(batch.get(field)):
                found += [
                    result
                    for raw in (await self._content(file_id)).splitlines()
                    if (result := _line(raw, model)) is not None
                ]
        return found

    async def _content(self, file_id: str) -> bytes:
        url = f"{self._base}/files/{file_id}/content"
        answer = await send(self._session, "GET", url, headers=self._headers)
        error = openai.error_for(answer.status, answer.body, answer.headers)
        return checked(answer, error, self._key).body


def _remote(batch: Any) -> RemoteBatch:
    data = mapping(batch)
    state = string(data.get("status")) or "unknown"
    batch_id = string(data.get("id"))
    if batch_id is None:
        raise ServerError("the batch has no id")
    return RemoteBatch(batch_id, state, ended=state in ENDED, ok=ENDED.get(state, False))


def _line(raw: bytes, model: str) -> LineResult | None:
    """An output or error line; None for an expired request (not done: send it again)."""
    if not raw.strip():
        return None
    line = json_object(raw)
    key = string(line.get("custom_id")) or ""
    response = mapping(line.get("response"))
    error = mapping(line.get("error"))
    if not response:
        if string(error.get("code")) == "batch_expired":
            return None
        message = string(error.get("message")) or "the request failed in the batch"
        return LineResult(key, error=ServerError(message))
    status = response.get("status_code")
    body = json.dumps(response.get("body") or {}).encode()
    if status != 200:
        failure: ProviderError = openai.error_for(int(status or 500), body, {})
        return LineResult(key, error=failure)
    try:
        return LineResult(key, generation=openai.parse_generation(body, model=model))
    except ProviderError as exc:
        return LineResult(key, error=exc)
