"""Gemini API Batch Mode, emulated: models/{model}:batchGenerateContent (inline requests or a
JSONL file from the Files API), batches/{id} get/list/cancel, and file download.

Facts from ai.google.dev/api/batch-mode and ai.google.dev/gemini-api/docs/batch-mode (and the
google-genai SDK's batches.py): the answer is an Operation named batches/{id} whose metadata is
the GenerateContentBatch (displayName, model, state BATCH_STATE_PENDING/RUNNING/SUCCEEDED/
FAILED/CANCELLED/EXPIRED, which the SDK shows as JOB_STATE_*); inline requests are
{request, metadata: {key}} and come back in output.inlinedResponses.inlinedResponses in order;
a file's lines are {key, request} and the answers a JSONL responsesFile of {key, response} or
{key, error}. Imagen (:predict) cannot be batched.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from aiohttp import web

from batchgen.emulator import checks
from batchgen.emulator.batch_jobs import (
    BATCH_DISCOUNT,
    Job,
    Line,
    add_store,
    line_fails,
    settle,
    state_of,
    store_of,
)
from batchgen.emulator.google import DIALECT, _candidates, _parse_content, status_response
from batchgen.emulator.lineup import GOOGLE
from batchgen.emulator.state import State, inline_images

VERSION = "/{version:v1|v1beta}"
INLINE_MAX_BYTES = 20 * 1024 * 1024  # inline requests: under 20 MB in all
_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta."
_STATES = {
    "pending": "BATCH_STATE_PENDING",
    "running": "BATCH_STATE_RUNNING",
    "finalizing": "BATCH_STATE_RUNNING",
    "done": "BATCH_STATE_SUCCEEDED",
    "expired": "BATCH_STATE_EXPIRED",
    "cancelled": "BATCH_STATE_CANCELLED",
}


def add_routes(app: web.Application) -> None:
    add_store(app)
    # Registered before the live Google routes: {model} stops at the colon, so this wins.
    app.router.add_post(f"{VERSION}/models/{{model}}:batchGenerateContent", _create)
    app.router.add_get(f"{VERSION}/batches", _list)
    app.router.add_get(f"{VERSION}/batches/{{batch}}", _get)
    app.router.add_post(f"{VERSION}/batches/{{batch}}:cancel", _cancel)
    app.router.add_post("/upload/{version:v1|v1beta}/files", _upload)
    # the REST docs download under /download/; the google-genai SDK asks without that prefix
    app.router.add_get("/download/{version:v1|v1beta}/files/{file}:download", _download)
    app.router.add_get(f"{VERSION}/files/{{file}}:download", _download)


def _denied(request: web.Request) -> web.Response | None:
    if DIALECT.authorized(request, state_of(request)):
        return None
    return DIALECT.error(request, 401, "")


async def _upload(request: web.Request) -> web.Response:
    """The Files API's resumable upload: `start` gives an upload URL, `upload, finalize` the
    bytes (both POSTs to this path; the SDK and batchgen send the two steps)."""
    store, command = store_of(request), request.headers.get("X-Goog-Upload-Command", "")
    upload_id = request.query.get("upload_id", "")
    # the upload URL itself is the credential of the second step (the SDK sends no key there)
    if upload_id not in store.uploads and (denied := _denied(request)) is not None:
        return denied
    if command == "start":
        upload_id = uuid.uuid4().hex
        store.uploads.add(upload_id)
        upload = f"{request.url.origin()}{request.path}?upload_id={upload_id}"
        return web.json_response({}, headers={"X-Goog-Upload-URL": upload})
    if "finalize" not in command or upload_id not in store.uploads:
        return status_response(400, "Expected a resumable upload (start, then finalize).")
    store.uploads.discard(upload_id)
    data = await request.read()
    info = {"mimeType": "application/jsonl", "sizeBytes": str(len(data)), "state": "ACTIVE"}
    file_id = store.add_file(data, info, "")
    meta = {"name": f"files/{file_id}", **info}
    return web.json_response({"file": meta}, headers={"X-Goog-Upload-Status": "final"})


async def _download(request: web.Request) -> web.Response:
    if (denied := _denied(request)) is not None:
        return denied
    found = store_of(request).files.get(request.match_info["file"])
    if found is None:
        return status_response(404, "Requested entity was not found.")
    return web.Response(body=found[0], content_type="application/jsonl")


def _requests(store: Any, config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The batch's requests with their keys (inline ones without a key are keyed by index)."""
    if isinstance(name := config.get("fileName"), str):
        found = store.files.get(name.removeprefix("files/"))
        if found is None:
            raise checks.BodyValidationError(f"{name} is not found")
        lines = [json.loads(raw) for raw in found[0].decode().splitlines() if raw.strip()]
        return [(str(line.get("key")), line.get("request") or {}) for line in lines]
    inline = (config.get("requests") or {}).get("requests")
    if not isinstance(inline, list) or not inline:
        raise checks.BodyValidationError("inputConfig needs requests.requests or fileName")
    return [
        (str((item.get("metadata") or {}).get("key", index)), item.get("request") or {})
        for index, item in enumerate(inline)
    ]


async def _create(request: web.Request) -> web.Response:
    if (denied := _denied(request)) is not None:
        return denied
    model = request.match_info["model"]
    listing = GOOGLE.get(model)
    if listing is None or listing.method != "generateContent":
        return status_response(
            400 if listing else 404, f"models/{model} does not support batchGenerateContent."
        )
    if request.content_length and request.content_length > INLINE_MAX_BYTES:
        return status_response(400, "Inline requests are limited to 20 MB; use a file.")
    batch = (await request.json()).get("batch") or {}
    try:
        config = batch.get("inputConfig") or {}
        requests = _requests(store_of(request), config)
    except (checks.BodyValidationError, ValueError, AttributeError) as exc:
        return status_response(400, f"Invalid request: {exc}")
    labels = {
        "model": f"models/{model}",
        "displayName": str(batch.get("displayName", "")),
        "inline": "fileName" not in config,
    }
    # a batch's requests name no model of their own: the batch's applies to each
    keyed = [(key, body | {"model": f"models/{model}"}) for key, body in requests]
    job = store_of(request).add_job(state_of(request), "", keyed, labels)
    return web.json_response(await _operation(request, job))


def _job(request: web.Request) -> Job | None:
    job = store_of(request).jobs.get(request.match_info["batch"])
    return job if job is not None and "displayName" in job.labels else None


async def _get(request: web.Request) -> web.Response:
    if (denied := _denied(request)) is not None:
        return denied
    if (job := _job(request)) is None:
        return status_response(404, "Requested entity was not found.")
    return web.json_response(await _operation(request, job))


async def _cancel(request: web.Request) -> web.Response:
    if (denied := _denied(request)) is not None:
        return denied
    if (job := _job(request)) is None:
        return status_response(404, "Requested entity was not found.")
    if job.lines is None:
        job.cancelled = True
    return web.json_response({})


async def _list(request: web.Request) -> web.Response:
    """Newest first, paged by pageSize and pageToken (the next index)."""
    if (denied := _denied(request)) is not None:
        return denied
    jobs = [j for j in reversed(store_of(request).jobs.values()) if "displayName" in j.labels]
    start = int(request.query.get("pageToken") or 0)
    size = min(max(int(request.query.get("pageSize", "50")), 1), 1000)
    page = [await _operation(request, job) for job in jobs[start : start + size]]
    body: dict[str, Any] = {"operations": page}
    if start + size < len(jobs):
        body["nextPageToken"] = str(start + size)
    return web.json_response(body)


async def _operation(request: web.Request, job: Job) -> dict[str, Any]:
    state = state_of(request)
    phase = job.phase(state, state.clock())
    await settle(job, state, phase, _answer)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    metadata: dict[str, Any] = {
        "@type": _TYPE + "GenerateContentBatch",
        "model": job.labels["model"],
        "displayName": job.labels["displayName"],
        "state": _STATES[phase],
        "createTime": now,
        "updateTime": now,
        "batchStats": {"requestCount": str(len(job.requests))},
    }
    operation: dict[str, Any] = {"name": f"batches/{job.id}", "metadata": metadata}
    if job.lines is not None:
        operation["done"] = True
    if phase == "done":  # an expired or cancelled job returns nothing (docs name no partial)
        output = _output(request, job)
        metadata["output"] = output
        operation["response"] = {"@type": _TYPE + "GenerateContentBatchOutput"} | output
    return operation


def _output(request: web.Request, job: Job) -> dict[str, Any]:
    """Answers inline (in order, each with its key) or, for a file's batch, a responsesFile."""
    assert job.lines is not None
    if job.labels["inline"]:
        entries = [_inline(line) for line in job.lines]
        return {"inlinedResponses": {"inlinedResponses": entries}}
    if "responsesFile" not in job.labels:
        data = "".join(json.dumps(_file_line(line)) + "\n" for line in job.lines).encode()
        info = {"mimeType": "application/jsonl", "sizeBytes": str(len(data))}
        job.labels["responsesFile"] = "files/" + store_of(request).add_file(data, info, "")
    return {"responsesFile": job.labels["responsesFile"]}


def _error(line: Line) -> dict[str, Any]:
    return {"code": line.status, "message": line.message, "status": "INVALID_ARGUMENT"}


def _inline(line: Line) -> dict[str, Any]:
    entry: dict[str, Any] = {"metadata": {"key": line.key}}
    return entry | ({"response": line.body} if line.ok else {"error": _error(line)})


def _file_line(line: Line) -> dict[str, Any]:
    return {"key": line.key} | ({"response": line.body} if line.ok else {"error": _error(line)})


async def _answer(state: State, key: str, body: dict[str, Any]) -> Line:
    model = str(body.get("model", "")).removeprefix("models/")
    listing = GOOGLE.get(model) or GOOGLE["gemini-2.5-flash-image"]
    try:
        ask = _parse_content(body, listing)
    except ValueError as exc:
        return Line(key, False, {}, status=400, message=f"Invalid request: {exc}")
    if line_fails(state, key):
        message = "The request was blocked: the prompt violates the usage policy."
        return Line(key, False, {}, status=400, message=message)
    blobs = await inline_images(state.tokens(ask.size, ask.count, ask.prompt))
    answer, delivered = _candidates(blobs, None, body, listing.name)
    usd = listing.usd_for(ask.resolution) * delivered * BATCH_DISCOUNT
    state.bill(delivered, usd, ask.prompt)
    return Line(key, True, answer)
