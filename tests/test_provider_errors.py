"""Each provider's answers -> batchgen's errors and records, one table per provider (pure)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from multidict import CIMultiDict

from batchgen.errors import (
    AuthError,
    ModelRetired,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    Rejected,
    ServerError,
)
from batchgen.providers import fal, gemini, google_status, openai
from batchgen.providers.http import same_origin
from batchgen.retry import parse_reset

RPC = "type.googleapis.com/google.rpc."


def status_body(code: int, status: str, *details: dict[str, Any]) -> bytes:
    error = {"code": code, "message": "m", "status": status, "details": list(details)}
    return json.dumps({"error": error}).encode()


def quota(quota_id: str) -> dict[str, Any]:
    return {"@type": RPC + "QuotaFailure", "violations": [{"quotaId": quota_id}]}


RETRY_34S = {"@type": RPC + "RetryInfo", "retryDelay": "34s"}
PER_MINUTE = quota("GenerateRequestsPerMinutePerProjectPerModel")
PER_DAY = quota("GenerateRequestsPerDayPerProjectPerModel")


@pytest.mark.parametrize(
    ("status", "body", "expected", "retry_after"),
    [
        (429, status_body(429, "RESOURCE_EXHAUSTED", PER_MINUTE, RETRY_34S), RateLimited, 34.0),
        (429, status_body(429, "RESOURCE_EXHAUSTED", PER_DAY, RETRY_34S), QuotaExhausted, None),
        (429, status_body(429, "RESOURCE_EXHAUSTED"), RateLimited, None),
        (402, status_body(402, "RESOURCE_EXHAUSTED"), AuthError, None),
        (
            400,
            status_body(
                400, "INVALID_ARGUMENT", {"@type": RPC + "ErrorInfo", "reason": "API_KEY_INVALID"}
            ),
            AuthError,
            None,
        ),
        (400, status_body(400, "FAILED_PRECONDITION"), AuthError, None),
        (403, status_body(403, "PERMISSION_DENIED"), AuthError, None),
        (404, status_body(404, "NOT_FOUND"), ModelRetired, None),
        (400, status_body(400, "INVALID_ARGUMENT"), Rejected, None),
        (500, status_body(500, "INTERNAL"), ServerError, None),
        (
            503,
            status_body(503, "UNAVAILABLE", {"@type": RPC + "RetryInfo", "retryDelay": "2.5s"}),
            ServerError,
            2.5,
        ),
        (502, b"<html>502 Bad Gateway</html>", ServerError, None),
        (499, status_body(499, "CANCELLED"), ServerError, None),
    ],
)
def test_google_status_maps_to_error_classes(
    status: int, body: bytes, expected: type[ProviderError], retry_after: float | None
) -> None:
    error = google_status.error_for(status, body)
    assert type(error) is expected
    assert error.status == status and error.retry_after == retry_after
    assert str(status) in error.message


def test_a_daily_quota_stops_the_run_and_says_why() -> None:
    error = google_status.error_for(429, status_body(429, "RESOURCE_EXHAUSTED", PER_DAY))
    assert error.stops_run and "daily quota" in error.message


def headers(**values: str) -> CIMultiDict[str]:
    return CIMultiDict({key.replace("_", "-"): value for key, value in values.items()})


def openai_body(code: str | None, kind: str = "invalid_request_error") -> bytes:
    return json.dumps(
        {"error": {"message": "m", "type": kind, "param": None, "code": code}}
    ).encode()


@pytest.mark.parametrize(
    ("status", "body", "head", "expected", "retry_after"),
    [
        (
            429,
            openai_body("rate_limit_exceeded"),
            headers(retry_after_ms="1500", retry_after="2"),
            RateLimited,
            1.5,
        ),
        (429, openai_body("rate_limit_exceeded"), headers(retry_after="3"), RateLimited, 3.0),
        (
            429,
            openai_body(None, "requests"),
            headers(x_ratelimit_remaining_requests="0", x_ratelimit_reset_requests="6m0s"),
            RateLimited,
            360.0,
        ),
        (
            429,
            openai_body("insufficient_quota", "insufficient_quota"),
            headers(),
            QuotaExhausted,
            None,
        ),
        (401, openai_body("invalid_api_key"), headers(), AuthError, None),
        (403, openai_body(None), headers(), AuthError, None),
        (404, openai_body("model_not_found"), headers(), ModelRetired, None),
        (400, openai_body("content_policy_violation"), headers(), Rejected, None),
        (422, openai_body(None), headers(), Rejected, None),
        (409, openai_body(None), headers(), ServerError, None),
        (500, openai_body(None, "server_error"), headers(retry_after="1"), ServerError, 1.0),
        (502, b"<html>bad gateway</html>", headers(), ServerError, None),
    ],
)
def test_openai_errors_map_to_error_classes(
    status: int,
    body: bytes,
    head: CIMultiDict[str],
    expected: type[ProviderError],
    retry_after: float | None,
) -> None:
    error = openai.error_for(status, body, head)
    assert type(error) is expected
    assert error.retry_after == retry_after


@pytest.mark.parametrize(
    ("head", "hold"),
    [
        (headers(x_ratelimit_remaining_requests="0", x_ratelimit_reset_requests="250ms"), 0.25),
        (headers(x_ratelimit_remaining_requests="3", x_ratelimit_reset_requests="1s"), None),
        (headers(x_ratelimit_remaining_tokens="0", x_ratelimit_reset_tokens="6m0s"), 360.0),
        (
            headers(
                x_ratelimit_remaining_requests="0",
                x_ratelimit_reset_requests="1s",
                x_ratelimit_remaining_tokens="0",
                x_ratelimit_reset_tokens="2s",
            ),
            2.0,
        ),
        (headers(), None),
    ],
)
def test_x_ratelimit_headers_become_a_hold(head: CIMultiDict[str], hold: float | None) -> None:
    assert openai.hold_s(head) == hold


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("5", None),
        ("x1s", None),
    ],
)
def test_reset_durations(text: str, seconds: float | None) -> None:
    assert parse_reset(text) == seconds


@pytest.mark.parametrize(
    ("status", "body", "what", "expected"),
    [
        (
            422,
            b'{"detail": [{"loc": ["body", "num_images"], "msg": "too many"}]}',
            "submit",
            Rejected,
        ),
        (401, b'{"detail": "Invalid key"}', "submit", AuthError),
        (403, b'{"detail": "User is locked. Reason: Exhausted balance."}', "submit", AuthError),
        (404, b'{"detail": "Application not found"}', "submit", ModelRetired),
        (404, b'{"detail": "Request not found"}', "status", ServerError),
        (429, b'{"detail": "Rate limit exceeded"}', "submit", RateLimited),
        (503, b"upstream connect error", "result", ServerError),
    ],
)
def test_fal_errors_map_to_error_classes(
    status: int, body: bytes, what: str, expected: type[ProviderError]
) -> None:
    error = fal.error_for(status, body, CIMultiDict({"Retry-After": "2"}), what)
    assert type(error) is expected
    assert what in error.message
    if status == 422:
        assert "body.num_images: too many" in error.message


def test_fal_polls_quickly_then_settles_to_a_steady_pace() -> None:
    delays = [fal.poll_delay_s(n) for n in range(20)]
    assert delays[0] == fal.POLL_FIRST_S
    assert delays == sorted(delays) and delays[-1] == fal.POLL_MAX_S


def test_fal_keys_go_to_the_queue_host_only() -> None:
    provider = fal.FalProvider(None, base_url="https://queue.fal.run", api_key="k")  # type: ignore[arg-type]
    assert provider._headers("https://queue.fal.run/fal-ai/x/requests/1/status")
    assert provider._headers("https://v3.fal.media/files/a.png") == {}
    assert provider._headers("http://queue.fal.run/fal-ai/x/requests/1") == {}  # not https
    assert not same_origin("/relative/path", "https://queue.fal.run")


PNG = base64.b64encode(b"\x89PNG fake").decode()


def test_imagen_predictions_skip_filtered_entries_and_prompt_ratings() -> None:
    body = json.dumps({"predictions": [
        {"bytesBase64Encoded": PNG, "mimeType": "image/png"},
        {"raiFilteredReason": "withheld: people"},
        {"contentType": "Positive Prompt", "safetyAttributes": {"categories": [], "scores": []}},
        {"bytesBase64Encoded": PNG, "mimeType": "image/png"},
    ]}).encode()  # fmt: skip
    generation = gemini.parse_predict(body, model="m")
    assert [(ref.index, ref.b64) for ref in generation.images] == [(0, PNG), (1, PNG)]


def test_imagen_answer_with_every_image_filtered_is_rejected_with_the_reason() -> None:
    body = json.dumps({"predictions": [{"raiFilteredReason": "r1"}, {"raiFilteredReason": "r1"}]})
    with pytest.raises(Rejected, match="all 2 images were withheld by the safety filter: r1"):
        gemini.parse_predict(body.encode(), model="m")
    with pytest.raises(Rejected, match="no images"):
        gemini.parse_predict(b"{}", model="m")


def test_gemini_image_answers_keep_images_and_explain_a_refusal() -> None:
    answer = {"candidates": [{"content": {"parts": [
        {"text": "Here you go"}, {"inlineData": {"mimeType": "image/png", "data": PNG}},
    ]}, "finishReason": "STOP"}]}  # fmt: skip
    generation = gemini.parse_content(json.dumps(answer).encode(), model="m")
    assert [ref.mime_type for ref in generation.images] == ["image/png"]
    refused = {"candidates": [{"finishReason": "IMAGE_SAFETY"}]}
    with pytest.raises(Rejected, match="IMAGE_SAFETY"):
        gemini.parse_content(json.dumps(refused).encode(), model="m")


def test_google_request_bodies_use_wire_names() -> None:
    from batchgen.models import Task

    task = Task(
        "t",
        0,
        "p",
        "m",
        "16:9",
        2,
        seed=None,
        params={"person_generation": "dont_allow"},
        resolution="2K",
    )
    assert gemini.predict_body(task) == {
        "instances": [{"prompt": "p"}],
        "parameters": {"personGeneration": "dont_allow", "sampleCount": 2, "aspectRatio": "16:9",
                       "sampleImageSize": "2K"},
    }  # fmt: skip
    config = gemini.content_body(task)["generationConfig"]
    assert config["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "2K"}
    assert openai.request_body(task, "gpt-image-2")["size"] == "2816x1536"
    sized = Task("t", 0, "p", "m", "16:9", 1, params={"size": "1536x1024"})
    assert openai.request_body(sized, "gpt-image-1")["size"] == "1536x1024"  # params win
