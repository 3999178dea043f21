"""Gemini API Batch Mode for Gemini image models: upload a JSONL file of {key, request} lines
through the Files API, create models/{model}:batchGenerateContent with it, poll batches/{id},
read the responsesFile (or inlinedResponses) back.

Facts (ai.google.dev/gemini-api/docs/batch-mode, ai.google.dev/api/batch-mode, the google-genai
SDK's batches.py): states BATCH_STATE_PENDING/RUNNING/SUCCEEDED/FAILED/CANCELLED/EXPIRED on
the wire (JOB_STATE_* in the SDKs); inline requests must stay under 20 MB and their results
come back inside the batch, so batchgen always sends a file (users report large inline
results that could not be fetched); images are candidates[].content.parts[].inlineData.
Imagen (:predict) has no batch mode.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import aiohttp

from batchgen import catalog
from batchgen.errors import ProviderError, ServerError
from batchgen.models import Task
from batchgen.providers import gemini, google_status
from batchgen.providers.batch_base import BatchClient, LineResult, RemoteBatch, checked, send
from batchgen.providers.http import same_origin
from batchgen.providers.wire import items, json_object, mapping, string

_PREFIX = "BATCH_STATE_"
ENDED = {"SUCCEEDED": True, "FAILED": False, "CANCELLED": False, "EXPIRED": False}
LIST_PAGES = 20


class GeminiBatchClient(BatchClient):
    api = "gemini"

    def __init__(
        self, session: aiohttp.ClientSession, *, base_url: str, api_key: str | None
    ) -> None:
        self._session = session
        self._root = base_url.rstrip("/")
        self._api = f"{self._root}/{gemini.API_VERSION}"
        self._key = api_key
        self._headers = {"x-goog-api-key": api_key} if api_key else {}

    def __repr__(self) -> str:
        return f"GeminiBatchClient(base_url={self._root!r})"  # never the key

    async def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = self._headers | kwargs.pop("headers", {})
        answer = await send(self._session, method, url, headers=headers, **kwargs)
        checked(answer, google_status.error_for(answer.status, answer.body), self._key)
        return answer

    async def _upload(self, marker: str, data: bytes) -> str:
        """The Files API's resumable upload: start (gets an upload URL), then upload+finalize."""
        start = {
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(len(data)),
            "X-Goog-Upload-Header-Content-Type": "application/jsonl",
        }
        meta = {"file": {"displayName": marker}}
        url = f"{self._root}/upload/{gemini.API_VERSION}/files"
        answer = await self._call("POST", url, headers=start, json=meta)
        upload_url = answer.headers.get("X-Goog-Upload-URL")
        if not upload_url:
            raise ServerError("the Files API gave no upload URL")
        if not same_origin(upload_url, self._root):  # the key goes only to its own service
            raise ServerError("the Files API's upload URL is on another host; not sending the key")
        finish = {"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"}
        done = await self._call("POST", upload_url, headers=finish, data=data)
        name = string(mapping(json_object(done.body).get("file")).get("name"))
        if name is None:
            raise ServerError("the Files API answer names no file")
        return name

    async def submit(self, marker: str, model: str, tasks: Sequence[Task]) -> RemoteBatch:
        lines = [{"key": task.id, "request": gemini.content_body(task)} for task in tasks]
        data = "".join(json.dumps(line) + "\n" for line in lines).encode()
        file_name = await self._upload(marker, data)
        wire = catalog.wire_model("gemini", model)
        body = {"batch": {"displayName": marker, "inputConfig": {"fileName": file_name}}}
        url = f"{self._api}/models/{wire}:batchGenerateContent"
        return _remote(json_object((await self._call("POST", url, json=body)).body))

    async def find(self, marker: str) -> RemoteBatch | None:
        token = ""
        for _ in range(LIST_PAGES):
            url = f"{self._api}/batches?pageSize=100" + (f"&pageToken={token}" if token else "")
            page = json_object((await self._call("GET", url)).body)
            for operation in items(page.get("operations")):
                if mapping(mapping(operation).get("metadata")).get("displayName") == marker:
                    return _remote(operation)
            token = string(page.get("nextPageToken")) or ""
            if not token:
                return None
        return None

    async def status(self, remote_id: str) -> RemoteBatch:
        url = f"{self._api}/{remote_id}"
        return _remote(json_object((await self._call("GET", url)).body))

    async def results(self, remote: RemoteBatch, model: str) -> list[LineResult]:
        operation = json_object((await self._call("GET", f"{self._api}/{remote.id}")).body)
        output = mapping(mapping(operation.get("metadata")).get("output")) or mapping(
            operation.get("response")
        )
        if file_name := string(output.get("responsesFile")):
            url = f"{self._root}/download/{gemini.API_VERSION}/{file_name}:download?alt=media"
            raw = (await self._call("GET", url)).body
            lines = [json_object(line) for line in raw.splitlines() if line.strip()]
        else:
            inline = items(mapping(output.get("inlinedResponses")).get("inlinedResponses"))
            lines = [_keyed(mapping(entry)) for entry in inline]
        return [_line(line, model) for line in lines]


def _keyed(entry: Any) -> dict[str, Any]:
    return dict(entry) | {"key": mapping(entry.get("metadata")).get("key")}


def _remote(operation: Any) -> RemoteBatch:
    data = mapping(operation)
    name = string(data.get("name"))
    if name is None:
        raise ServerError("the batch operation has no name")
    state = (string(mapping(data.get("metadata")).get("state")) or "UNKNOWN").removeprefix(_PREFIX)
    return RemoteBatch(name, state, ended=state in ENDED, ok=ENDED.get(state, False))


def _line(line: Any, model: str) -> LineResult:
    key = str(line.get("key") or "")
    error = mapping(line.get("error") or line.get("status"))
    if error:
        code = error.get("code")
        status = code if isinstance(code, int) and code >= 400 else 400
        body = json.dumps({"error": dict(error)}).encode()
        return LineResult(key, error=google_status.error_for(status, body))
    body = json.dumps(line.get("response") or {}).encode()
    try:
        return LineResult(key, generation=gemini.parse_content(body, model=model))
    except ProviderError as exc:
        return LineResult(key, error=exc)
