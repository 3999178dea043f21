"""The fal dialect: the queue API under /fal (providers.md 4) - submit, status, result, cancel.

A queued job runs on the emulator's clock: it is done once its sampled latency has passed, and
it holds its concurrency slot until then (or until it is cancelled).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from batchgen.emulator import checks, images
from batchgen.emulator.faults import common_fault
from batchgen.emulator.lineup import FAL, Listing
from batchgen.emulator.state import State, file_urls, guarded, state_of

PREFIX = "/fal"
SUBMIT = PREFIX + "/{app:.+}"
REQUEST = PREFIX + "/{owner}/{name}/requests/{request_id}"
ASPECT_RATIOS = ("1:1", "16:9", "9:16", "3:4", "4:3")
MAX_SEED = 2**32 - 1


@dataclass(slots=True)
class Job:
    listing: Listing
    prompt: str
    count: int
    size: tuple[int, int]
    resolution: str
    seed: int
    ready_at: float
    done: bool = False
    cancelled: bool = False
    answer: dict[str, Any] | None = None  # the stored result: every GET gives the same one
    problems: list[dict[str, Any]] | None = None  # bad input, reported by the result URL (422)


_JOBS = web.AppKey("batchgen_emulator_fal_jobs", dict[str, Job])


def detail(status: int, text: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"detail": text}, status=status, headers=headers)


class _Fal:
    def authorized(self, request: web.Request, state: State) -> bool:
        return state.key_is(request.headers.get("Authorization"), "Key {}")

    def error(self, request: web.Request, status: int, message: str) -> web.Response:
        return detail(
            status, "Invalid API key (Authorization: Key <key>)" if status == 401 else message
        )

    def rate_limited(self, request: web.Request, wait_s: float) -> web.Response:
        return detail(429, "Rate limit exceeded", {"Retry-After": str(math.ceil(wait_s))})


DIALECT = _Fal()


def add_routes(app: web.Application) -> None:
    app[_JOBS] = {}
    app.router.add_get(REQUEST + "/status", _status)
    app.router.add_put(REQUEST + "/cancel", _cancel)
    app.router.add_get(REQUEST, _result)
    app.router.add_post(SUBMIT, _serve)


async def _serve(request: web.Request) -> web.StreamResponse:
    return await guarded(request, DIALECT, _submit, release=False)


def fault_response(request: web.Request, fault: str) -> web.Response | None:
    if fault in ("429", "busy"):
        return DIALECT.rate_limited(request, 1)
    if fault == "quota":
        return detail(403, "User is locked. Reason: Exhausted balance.")
    if fault == "policy":
        problem = {
            "loc": ["body", "prompt"],
            "msg": "The prompt was flagged by the content checker",
            "type": "content_policy_violation",
        }
        return detail(422, [problem])
    if fault.isdigit():
        return detail(int(fault), "Internal server error")
    return common_fault(request, fault)


async def _submit(request: web.Request, state: State) -> web.StreamResponse:
    """Queue a job; the slot taken by guarded() is this job's until it ends."""
    app = request.match_info["app"]
    try:
        listing = FAL.get(app)
        if listing is None or state.faults.spec.is_retired(app):
            state.release()
            return detail(404, f"Application '{app}' not found")
        body = await request.json()
    except ValueError as exc:  # not JSON at all: the queue itself refuses it
        state.release()
        return detail(422, [{"loc": ["body"], "msg": str(exc), "type": "value_error"}])
    try:
        job = _parse(body, listing, state)
    except checks.BodyValidationError as exc:
        # The live queue takes the submit and the app's validation fails: the 422 comes from
        # the result URL, and the status says COMPLETED.
        state.release()
        job = _refused(listing, state, str(exc))
    fault = state.faults.generation()
    if fault is not None and fault != "filter":  # filter is Google's :predict only
        state.inject(fault)
        if (refusal := fault_response(request, fault)) is not None:
            state.release()
            return refusal
    request_id = str(uuid.uuid4())
    request.app[_JOBS][request_id] = job
    return web.json_response(_urls(request, app.split("/")[0], app.split("/")[1], request_id))


def _urls(request: web.Request, owner: str, name: str, request_id: str) -> dict[str, str]:
    """Status, result and cancel use owner/app only, without the endpoint's sub-path."""
    base = f"{request.url.origin()}{PREFIX}/{owner}/{name}/requests/{request_id}"
    return {
        "request_id": request_id,
        "response_url": base,
        "status_url": f"{base}/status",
        "cancel_url": f"{base}/cancel",
    }


def _parse(body: object, listing: Listing, state: State) -> Job:
    if not isinstance(body, dict):
        raise checks.BodyValidationError("Input should be a valid dictionary")
    prompt = checks.string("prompt", checks.required(body, "prompt"), 1, 1_000_000)
    count = checks.integer(body, "num_images", 1, listing.max_images) or 1
    aspect = checks.enum(body, "aspect_ratio", ASPECT_RATIOS) or "1:1"
    resolution = checks.enum(body, "resolution", tuple(listing.sizes)) or "1K"
    seed = checks.integer(body, "seed", 0, MAX_SEED)
    checks.string("negative_prompt", body.get("negative_prompt", "-"), 0, 1_000_000)
    latency = state.scaled(listing.sample_latency(state.latency_rng))
    if seed is None:
        seed = state.latency_rng.randrange(MAX_SEED + 1)
    size = listing.sizes[resolution][aspect]
    return Job(listing, prompt, count, size, resolution, seed, state.clock() + latency)


def _refused(listing: Listing, state: State, message: str) -> Job:
    problems = [{"loc": ["body"], "msg": message, "type": "value_error"}]
    return Job(listing, "", 0, (0, 0), "1K", 0, state.clock(), done=True, problems=problems)


def _job(request: web.Request) -> tuple[str, Job | None]:
    request_id = request.match_info["request_id"]
    return request_id, request.app[_JOBS].get(request_id)


def _settle(state: State, job: Job) -> bool:
    """Whether the job is done; the first time it is seen done, bill it and free its slot."""
    if not job.done and not job.cancelled and state.clock() >= job.ready_at:
        job.done = True
        state.release()
        state.bill(job.count, job.listing.usd_for(job.resolution) * job.count, job.prompt)
    return job.done


async def _status(request: web.Request) -> web.Response:
    state = state_of(request)
    state.stats.status_polls += 1
    if not DIALECT.authorized(request, state):
        return DIALECT.error(request, 401, "")
    request_id, job = _job(request)
    if job is None:
        return detail(404, f"Request {request_id} not found")
    done = _settle(state, job) or job.cancelled
    urls = _urls(request, request.match_info["owner"], request.match_info["name"], request_id)
    return web.json_response(
        urls
        | {"status": "COMPLETED" if done else "IN_PROGRESS", "queue_position": None, "logs": None}
    )


async def _result(request: web.Request) -> web.Response:
    state = state_of(request)
    if not DIALECT.authorized(request, state):
        return DIALECT.error(request, 401, "")
    request_id, job = _job(request)
    if job is None:
        return detail(404, f"Request {request_id} not found")
    if job.cancelled:
        return detail(400, "Request was cancelled")
    if not _settle(state, job):
        return detail(400, "Request is still in progress")
    if job.problems is not None:
        return detail(422, job.problems)
    if job.answer is None:  # made once: fal stores the result, two GETs give the same files
        job.answer = await _answer(request, state, job)
    return web.json_response(job.answer)


async def _answer(request: web.Request, state: State, job: Job) -> dict[str, Any]:
    tokens = state.tokens(job.size, job.count, job.prompt, seed=job.seed)
    files = [
        {
            "url": url,
            "content_type": "image/png",
            "file_name": "output.png",
            "file_size": (await images.load_png(token)).size,
            "width": job.size[0],
            "height": job.size[1],
        }
        for url, token in zip(file_urls(request, tokens), tokens, strict=True)
    ]
    return {"images": files, "seed": job.seed}


async def _cancel(request: web.Request) -> web.Response:
    state = state_of(request)
    if not DIALECT.authorized(request, state):
        return DIALECT.error(request, 401, "")
    _, job = _job(request)
    if job is None:
        return web.json_response({"status": "NOT_FOUND"}, status=404)
    if _settle(state, job) or job.cancelled:
        return web.json_response({"status": "ALREADY_COMPLETED"}, status=400)
    job.cancelled = True
    state.release()
    state.stats.cancelled += 1
    return web.json_response({"status": "CANCELLATION_REQUESTED"}, status=202)
