"""The emulator's batch APIs (issue 15 point 5) spoken by the official clients, unchanged:
openai's files.create / batches.create / retrieve / list / cancel and google-genai's
batches.create / get, with the state machine, per-line errors, expiry and the submit counter."""

from __future__ import annotations

import io
import json
from typing import Any

import aiohttp
import pytest

from batchgen.emulator import EmulatorConfig, running_emulator

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings(
        "ignore:Inheritance class AiohttpClientSession from ClientSession:DeprecationWarning"
    ),
]
KEY = "sk-batch-test-key"


def _jsonl(count: int) -> bytes:
    lines = [
        {
            "custom_id": f"task-{i}",
            "method": "POST",
            "url": "/v1/images/generations",
            "body": {"model": "gpt-image-1", "prompt": f"a kite {i}", "size": "1024x1024"},
        }
        for i in range(count)
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def _config(**extra: Any) -> EmulatorConfig:
    return EmulatorConfig(api_key=KEY, time_scale=0, image_bytes="small", **extra)


async def test_openai_sdk_files_and_batches_run_unchanged() -> None:
    openai = pytest.importorskip("openai")
    async with running_emulator(_config(batch_line_error_rate=0.2)) as emulator:
        client = openai.AsyncOpenAI(api_key=KEY, base_url=emulator.base_url + "/openai/v1")
        uploaded = await client.files.create(
            file=("in.jsonl", io.BytesIO(_jsonl(10))), purpose="batch"
        )
        batch = await client.batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/images/generations",
            completion_window="24h",
            metadata={"run": "r1"},
        )
        done = await client.batches.retrieve(batch.id)
        listed = await client.batches.list(limit=5)
        output = await client.files.content(done.output_file_id or "")
        errors = await client.files.content(done.error_file_id or "")
        await client.close()
        async with (
            aiohttp.ClientSession() as session,
            session.get(emulator.base_url + "/_emulator/stats") as answer,
        ):
            counters = await answer.json()
    assert counters["batch_submitted"] == {f"task-{i}": 1 for i in range(10)}
    assert counters["batches_created"] == 1 and counters["batch_submitted_max"] == 1
    assert done.status == "completed" and done.metadata == {"run": "r1"}
    assert [b.id for b in listed.data] == [batch.id]
    good = [json.loads(line) for line in output.text.splitlines()]
    bad = [json.loads(line) for line in errors.text.splitlines()]
    assert len(good) + len(bad) == 10 and bad, "a 20% error rate over 10 lines leaves some"
    assert all(line["response"]["body"]["data"][0]["b64_json"] for line in good)
    assert all(line["response"]["status_code"] == 400 for line in bad)
    assert done.request_counts is not None and done.request_counts.failed == len(bad)
    assert emulator.stats.batch_submitted == {f"task-{i}": 1 for i in range(10)}


async def test_openai_batch_walks_its_states_and_expires_part_way() -> None:
    openai = pytest.importorskip("openai")
    now = [0.0]
    config = EmulatorConfig(api_key=KEY, batch_s=100, batch_expiries=1, image_bytes="small")
    async with running_emulator(config, clock=lambda: now[0]) as emulator:
        client = openai.AsyncOpenAI(api_key=KEY, base_url=emulator.base_url + "/openai/v1")
        uploaded = await client.files.create(
            file=("in.jsonl", io.BytesIO(_jsonl(4))), purpose="batch"
        )
        batch = await client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/images/generations", completion_window="24h"
        )
        seen = [batch.status]
        for moment in (50, 95, 100):
            now[0] = moment
            seen.append((await client.batches.retrieve(batch.id)).status)
        final = await client.batches.retrieve(batch.id)
        errors = await client.files.content(final.error_file_id or "")
        await client.close()
    assert seen == ["validating", "in_progress", "finalizing", "expired"]
    expired = [json.loads(line) for line in errors.text.splitlines()]
    assert [line["error"]["code"] for line in expired] == ["batch_expired"] * 2


async def test_openai_batch_cancel() -> None:
    openai = pytest.importorskip("openai")
    async with running_emulator(EmulatorConfig(api_key=KEY, batch_s=100)) as emulator:
        client = openai.AsyncOpenAI(api_key=KEY, base_url=emulator.base_url + "/openai/v1")
        uploaded = await client.files.create(
            file=("in.jsonl", io.BytesIO(_jsonl(2))), purpose="batch"
        )
        batch = await client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/images/generations", completion_window="24h"
        )
        cancelled = await client.batches.cancel(batch.id)
        await client.close()
    assert cancelled.status == "cancelled"


@pytest.mark.filterwarnings("ignore::google.genai._common.ExperimentalWarning")
async def test_google_genai_batches_create_runs_unchanged() -> None:
    genai = pytest.importorskip("google.genai")
    from google.genai import types

    async with running_emulator(_config()) as emulator:
        client = genai.Client(
            api_key=KEY, http_options=types.HttpOptions(base_url=emulator.base_url)
        )
        requests: list[Any] = [
            {
                "contents": [{"parts": [{"text": f"a lantern {i}"}], "role": "user"}],
                "metadata": {"key": f"k{i}"},
            }
            for i in range(3)
        ]
        async with client.aio as aio:
            job = await aio.batches.create(
                model="gemini-2.5-flash-image", src=requests, config={"display_name": "run-1"}
            )
            done = await aio.batches.get(name=job.name or "")
    assert job.display_name == "run-1"
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.dest is not None and done.dest.inlined_responses is not None
    answers = done.dest.inlined_responses
    assert len(answers) == 3
    parts = answers[0].response.candidates[0].content.parts
    assert any(part.inline_data and part.inline_data.data for part in parts or [])
    assert emulator.stats.batch_submitted == {"k0": 1, "k1": 1, "k2": 1}


async def test_imagen_cannot_be_batched_on_google() -> None:
    async with running_emulator(_config()) as emulator, aiohttp.ClientSession() as session:
        url = f"{emulator.base_url}/v1beta/models/imagen-4.0-generate-001:batchGenerateContent"
        async with session.post(url, json={"batch": {}}, headers={"x-goog-api-key": KEY}) as r:
            assert r.status == 400
            assert "batchGenerateContent" in (await r.json())["error"]["message"]


@pytest.mark.filterwarnings("ignore::google.genai._common.ExperimentalWarning")
async def test_google_genai_file_batch_runs_unchanged() -> None:
    """files.upload (resumable), batches.create from the file, files.download of the results."""
    genai = pytest.importorskip("google.genai")
    from google.genai import types

    lines = "".join(
        json.dumps({"key": f"k{i}", "request": {"contents": [{"parts": [{"text": f"x {i}"}]}]}})
        + "\n"
        for i in range(3)
    )
    async with running_emulator(_config()) as emulator:
        client = genai.Client(
            api_key=KEY, http_options=types.HttpOptions(base_url=emulator.base_url)
        )
        async with client.aio as aio:
            uploaded = await aio.files.upload(
                file=io.BytesIO(lines.encode()),
                config=types.UploadFileConfig(mime_type="jsonl", display_name="in"),
            )
            job = await aio.batches.create(
                model="gemini-2.5-flash-image",
                src=uploaded.name or "",
                config={"display_name": "f"},
            )
            done = await aio.batches.get(name=job.name or "")
            assert done.dest is not None and done.dest.file_name
            data = await aio.files.download(file=done.dest.file_name)
    answers = [json.loads(line) for line in data.decode().splitlines()]
    assert [answer["key"] for answer in answers] == ["k0", "k1", "k2"]
    assert all(answer["response"]["candidates"] for answer in answers)
    assert emulator.stats.batch_submitted == {"k0": 1, "k1": 1, "k2": 1}
