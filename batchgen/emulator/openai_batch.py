"""The OpenAI Batch API, emulated: files (purpose=batch), /v1/batches create/get/list/cancel.

Facts from OpenAI's API reference (platform.openai.com/docs/api-reference/batch, files; the
openai SDK's types/batch.py): an input file is JSONL of {custom_id, method, url, body}, at most
50,000 requests and 200 MB; completion_window is "24h"; statuses validating, in_progress,
finalizing, completed, failed, expired, cancelling, cancelled; output_file_id lines are
{id, custom_id, response: {status_code, request_id, body}, error}; failed requests go to
error_file_id, and on expiry the unfinished requests are there with error code batch_expired.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from aiohttp import web

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
from batchgen.emulator.lineup import OPENAI
from batchgen.emulator.openai import encoded_as
from batchgen.emulator.state import State, inline_images

ROOT = "/openai/v1"
MAX_REQUESTS = 50_000
MAX_FILE_BYTES = 200 * 1024 * 1024
ENDPOINTS = ("/v1/images/generations",)
_SIZE = re.compile(r"^(\d{2,4})x(\d{2,4})$")
_STATUS = {
    "pending": "validating",
    "running": "in_progress",
    "finalizing": "finalizing",
    "done": "completed",
    "expired": "expired",
    "cancelled": "cancelled",
}


def add_routes(app: web.Application) -> None:
    add_store(app)
    app.router.add_post(f"{ROOT}/files", _upload)
    app.router.add_get(f"{ROOT}/files/{{file_id}}", _file_info)
    app.router.add_get(f"{ROOT}/files/{{file_id}}/content", _file_content)
    app.router.add_post(f"{ROOT}/batches", _create)
    app.router.add_get(f"{ROOT}/batches", _list)
    app.router.add_get(f"{ROOT}/batches/{{batch_id}}", _get)
    app.router.add_post(f"{ROOT}/batches/{{batch_id}}/cancel", _cancel)


def _error(status: int, message: str, code: str | None = None) -> web.Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status)


def _denied(request: web.Request) -> web.Response | None:
    state = state_of(request)
    if state.key_is(request.headers.get("Authorization"), "Bearer {}"):
        return None
    return _error(401, "Incorrect API key provided.", "invalid_api_key")


def _file_object(file_id: str, info: dict[str, Any]) -> dict[str, Any]:
    return {"id": file_id, "object": "file", **info}


async def _upload(request: web.Request) -> web.Response:
    if (denied := _denied(request)) is not None:
        return denied
    form = await request.post()
    upload, purpose = form.get("file"), form.get("purpose")
    fields: dict[str, Any] = {"purpose": purpose}
    if isinstance(upload, web.FileField):
        fields |= {"file": upload.file.read(), "filename": upload.filename or "upload.jsonl"}
    if fields.get("purpose") != "batch" or "file" not in fields:
        return _error(400, "Expected a 'file' and purpose 'batch'.")
    data: bytes = fields["file"]
    if len(data) > MAX_FILE_BYTES:
        return _error(400, f"File is larger than {MAX_FILE_BYTES} bytes.")
    info = {
        "bytes": len(data),
        "created_at": int(time.time()),
        "filename": fields["filename"],
        "purpose": "batch",
        "status": "processed",
    }
    file_id = store_of(request).add_file(data, info, "file-")
    return web.json_response(_file_object(file_id, info))


async def _file_info(request: web.Request) -> web.Response:
    if (denied := _denied(request)) is not None:
        return denied
    found = store_of(request).files.get(request.match_info["file_id"])
    if found is None:
        return _error(404, "No such File object.")
    return web.json_response(_file_object(request.match_info["file_id"], found[1]))


async def _file_content(request: web.Request) -> web.Response:
    if (denied := _denied(request)) is not None:
        return denied
    found = store_of(request).files.get(request.match_info["file_id"])
    if found is None:
        return _error(404, "No such File object.")
    return web.Response(body=found[0], content_type="application/octet-stream")


def _requests(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """The input file's lines; a malformed file fails the batch at validation (ValueError)."""
    requests, seen = [], set()
    for number, raw in enumerate(data.decode().splitlines(), 1):
        if not raw.strip():
            continue
        line = json.loads(raw)
        key = line.get("custom_id") if isinstance(line, dict) else None
        if not isinstance(key, str) or key in seen:
            raise ValueError(f"line {number}: custom_id missing or not unique")
        if line.get("method") != "POST" or line.get("url") not in ENDPOINTS:
            raise ValueError(f"line {number}: method must be POST and url one of {ENDPOINTS}")
        seen.add(key)
        requests.append((key, line.get("body") or {}))
    if not requests or len(requests) > MAX_REQUESTS:
        raise ValueError(f"a batch holds 1..{MAX_REQUESTS} requests, got {len(requests)}")
    return requests


async def _create(request: web.Request) -> web.Response:
    if (denied := _denied(request)) is not None:
        return denied
    body = await request.json()
    if body.get("endpoint") not in ENDPOINTS or body.get("completion_window") != "24h":
        return _error(400, f"endpoint must be one of {ENDPOINTS}, completion_window '24h'.")
    found = store_of(request).files.get(str(body.get("input_file_id")))
    if found is None:
        return _error(400, "No such File object: input_file_id.")
    try:
        requests = _requests(found[0])
    except (ValueError, UnicodeDecodeError) as exc:
        return _error(400, f"The input file is invalid: {exc}")
    labels = {
        "input_file_id": body["input_file_id"],
        "endpoint": body["endpoint"],
        "metadata": body.get("metadata"),
    }
    job = store_of(request).add_job(state_of(request), "batch_", requests, labels)
    return web.json_response(await _batch_object(request, job))


async def _get(request: web.Request) -> web.Response:
    if (denied := _denied(request)) is not None:
        return denied
    job = store_of(request).jobs.get(request.match_info["batch_id"])
    if job is None or not job.id.startswith("batch_"):
        return _error(404, "No such batch.")
    return web.json_response(await _batch_object(request, job))


async def _cancel(request: web.Request) -> web.Response:
    if (denied := _denied(request)) is not None:
        return denied
    job = store_of(request).jobs.get(request.match_info["batch_id"])
    if job is None or not job.id.startswith("batch_"):
        return _error(404, "No such batch.")
    if job.lines is None:
        job.cancelled = True
    return web.json_response(await _batch_object(request, job))


async def _list(request: web.Request) -> web.Response:
    """Newest first, `after` a batch id, `limit` (1..100) a page, as OpenAI pages them."""
    if (denied := _denied(request)) is not None:
        return denied
    jobs = [job for job in reversed(store_of(request).jobs.values()) if job.id.startswith("batch_")]
    after = request.query.get("after")
    if after is not None:
        ids = [job.id for job in jobs]
        jobs = jobs[ids.index(after) + 1 :] if after in ids else []
    limit = min(max(int(request.query.get("limit", "20")), 1), 100)
    page = [await _batch_object(request, job) for job in jobs[:limit]]
    return web.json_response(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(jobs) > limit,
        }
    )


async def _batch_object(request: web.Request, job: Job) -> dict[str, Any]:
    state = state_of(request)
    phase = job.phase(state, state.clock())
    await settle(job, state, phase, _answer)
    status = _STATUS[phase]
    out: dict[str, Any] = {
        "id": job.id,
        "object": "batch",
        "endpoint": job.labels["endpoint"],
        "errors": None,
        "input_file_id": job.labels["input_file_id"],
        "completion_window": "24h",
        "status": status,
        "output_file_id": None,
        "error_file_id": None,
        "created_at": int(time.time()),
        "metadata": job.labels["metadata"],
        "request_counts": {"total": len(job.requests), "completed": 0, "failed": 0},
    }
    if job.lines is not None:
        out |= _results(request, job)
    return out


def _results(request: web.Request, job: Job) -> dict[str, Any]:
    """The output and error files, made once (their ids kept on the job)."""
    if "output_file_id" not in job.labels:
        store = store_of(request)
        assert job.lines is not None
        good = [_line(line) for line in job.lines if line.ok]
        bad = [_line(line) for line in job.lines if not line.ok]
        bad += [_expired(key) for key in job.expired_keys]
        job.labels["output_file_id"] = _jsonl_file(store, good, f"{job.id}_output.jsonl")
        job.labels["error_file_id"] = _jsonl_file(store, bad, f"{job.id}_error.jsonl")
        job.labels["counts"] = (len(good), len(bad))
    completed, failed = job.labels["counts"]
    total = len(job.requests)
    return {
        "output_file_id": job.labels["output_file_id"],
        "error_file_id": job.labels["error_file_id"],
        "request_counts": {"total": total, "completed": completed, "failed": failed},
    }


def _jsonl_file(store: Any, lines: list[dict[str, Any]], name: str) -> str | None:
    if not lines:
        return None
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    info = {"bytes": len(data), "created_at": int(time.time()), "filename": name}
    return str(store.add_file(data, info | {"purpose": "batch_output"}, "file-"))


def _line(line: Line) -> dict[str, Any]:
    return {
        "id": f"batch_req_{uuid.uuid4().hex[:24]}",
        "custom_id": line.key,
        "response": {
            "status_code": line.status,
            "request_id": uuid.uuid4().hex,
            "body": line.body,
        },
        "error": None,
    }


def _expired(key: str) -> dict[str, Any]:
    message = "This request could not be executed before the completion window expired."
    return {
        "id": f"batch_req_{uuid.uuid4().hex[:24]}",
        "custom_id": key,
        "response": None,
        "error": {"code": "batch_expired", "message": message},
    }


async def _answer(state: State, key: str, body: dict[str, Any]) -> Line:
    """One request's answer: images inline as b64_json, or a per-line error body."""
    prompt, size = body.get("prompt"), _SIZE.match(str(body.get("size", "1024x1024")))
    count = body.get("n", 1)
    if not isinstance(prompt, str) or not prompt or size is None:
        return _refusal(key, "Invalid 'prompt' or 'size'.")
    if not (isinstance(count, int) and 1 <= count <= 10):
        return _refusal(key, "Invalid 'n': expected 1..10.")
    if line_fails(state, key):
        return _refusal(key, "Your request was rejected as a result of our safety system.")
    width, height = int(size.group(1)), int(size.group(2))
    tokens = state.tokens((width, height), count, prompt)
    listing = OPENAI.get(str(body.get("model")))
    usd = listing.usd * count * BATCH_DISCOUNT if listing is not None else 0.0
    state.bill(count, usd, prompt)
    blobs = await inline_images(tokens)
    answer: dict[str, Any] = {"created": int(time.time())}
    fmt, compression = body.get("output_format"), body.get("output_compression", 100)
    if fmt in ("jpeg", "webp") and isinstance(compression, int) and 0 <= compression <= 100:
        blobs = [await encoded_as(blob, fmt, compression) for blob in blobs]
        answer["output_format"] = fmt
    return Line(key, True, answer | {"data": [{"b64_json": blob} for blob in blobs]})


def _refusal(key: str, message: str) -> Line:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
    return Line(key, False, body, status=400, message=message)
