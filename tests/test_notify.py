"""`notify:`: a real run on the emulator posts its summary to a webhook receiver on loopback (an
aiohttp.web app in the test) or hands it to a command; the key is in neither; a receiver that
fails is retried a bounded number of times; a notification that cannot be sent never fails the
run; `when:` chooses the events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from batchgen.manifest.load import load_manifest
from batchgen.providers.notify import WEBHOOK_ATTEMPTS, event_of
from batchgen.run.job import JobResult, RunOptions, run_job
from tests.helpers import FAST, many_prompts, write_manifest

KEY = "sk-notify-test-0123456789abcdef"
HOOK_ENV = "BATCHGEN_TEST_WEBHOOK"
KEY_ENV = "BATCHGEN_TEST_KEY"


@dataclass
class Receiver:
    """A webhook endpoint: records every request; answers `fail_first` of them with a 503."""

    fail_first: int = 0
    seen: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((dict(request.headers), await request.read()))
        if len(self.seen) <= self.fail_first:
            return web.Response(status=503)
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/hook/{token}", hook.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield hook, str(server.make_url("/hook/T0KEN"))
    finally:
        await server.close()


def _job(tmp_path: Path, notify: str, extra: str = "") -> Path:
    return write_manifest(
        tmp_path,
        f"""
        version: 1
        name: notified
        provider: {{kind: emulator, time_scale: 0, image_bytes: small, api_key_env: {KEY_ENV}}}
        models: [{FAST}]
        limits: {{concurrency: 4}}
        {many_prompts(3)}
        notify: {notify}
        {extra}
        """,
    )


async def _run(path: Path, tmp_path: Path) -> JobResult:
    options = RunOptions(out=tmp_path / "run", html=False, wait_scale=0.001)
    return await run_job(load_manifest(path), options)


@pytest.mark.anyio
async def test_the_webhook_gets_the_summary_and_never_the_key(
    tmp_path: Path, receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hook, url = receiver
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv(HOOK_ENV, url)
    job = await _run(_job(tmp_path, f"{{webhook_env: {HOOK_ENV}}}"), tmp_path)
    assert job.result.status == "complete" and job.warnings == ()
    [(headers, body)] = hook.seen
    sent = json.loads(body)
    assert sent["event"] == "end" and sent["status"] == "complete"
    assert sent["summary"] == json.loads((job.run_dir / "report.json").read_text())
    assert sent["summary"]["tasks"]["done"] == 3
    everything = json.dumps(headers) + body.decode()
    assert KEY not in everything and KEY[-12:] not in everything
    assert not {"authorization", "x-goog-api-key", "x-api-key"} & {h.lower() for h in headers}
    assert headers["Content-Type"] == "application/json"


@pytest.mark.anyio
async def test_a_failing_receiver_is_retried_then_served(
    tmp_path: Path, receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hook, url = receiver
    hook.fail_first = 2
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv(HOOK_ENV, url)
    job = await _run(_job(tmp_path, f"{{webhook_env: {HOOK_ENV}}}"), tmp_path)
    assert len(hook.seen) == 3 and job.warnings == ()
    assert len({body for _, body in hook.seen}) == 1  # the same summary each time


@pytest.mark.anyio
async def test_a_receiver_that_never_answers_well_is_a_warning_not_a_failure(
    tmp_path: Path, receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hook, url = receiver
    hook.fail_first = 100
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv(HOOK_ENV, url)
    job = await _run(_job(tmp_path, f"{{webhook_env: {HOOK_ENV}}}"), tmp_path)
    assert job.result.status == "complete" and job.summary.tasks.done == 3
    assert len(hook.seen) == WEBHOOK_ATTEMPTS  # bounded
    [warning] = job.warnings
    assert "127.0.0.1" in warning and "HTTP 503" in warning
    assert "T0KEN" not in warning  # the URL's path (often a token) is not shown


@pytest.mark.anyio
async def test_nothing_listening_or_no_url_set_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.delenv(HOOK_ENV, raising=False)
    job = await _run(_job(tmp_path, f"{{webhook_env: {HOOK_ENV}}}"), tmp_path)
    assert job.result.status == "complete"
    assert job.warnings == (f"notify: {HOOK_ENV} is not set; no webhook was sent",)
    monkeypatch.setenv(HOOK_ENV, "http://127.0.0.1:9/closed")  # discard port: refused
    again = await _run(_job(tmp_path, f"{{webhook_env: {HOOK_ENV}}}"), tmp_path)
    [warning] = again.warnings
    assert "after 4 attempt(s)" in warning


@pytest.mark.anyio
async def test_the_command_gets_the_summary_on_stdin_without_key_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv("AIMLAPI_API_KEY", "sk-another-providers-key")
    got, env = tmp_path / "got.json", tmp_path / "env.txt"
    command = f"cat > {got}; env > {env}"
    job = await _run(_job(tmp_path, json.dumps({"command": command})), tmp_path)
    assert job.warnings == ()
    sent = json.loads(got.read_text())
    assert sent["event"] == "end" and sent["summary"]["tasks"]["done"] == 3
    environment = env.read_text()
    assert "BATCHGEN_EVENT=end" in environment and "BATCHGEN_STATUS=complete" in environment
    assert KEY not in environment and "sk-another-providers-key" not in environment


@pytest.mark.anyio
async def test_a_failing_command_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    job = await _run(_job(tmp_path, '{command: "exit 3"}'), tmp_path)
    assert job.result.status == "complete"
    assert job.warnings == ("notify: command exited with status 3",)


@pytest.mark.anyio
async def test_on_chooses_the_events_and_the_budget_is_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    got = tmp_path / "got.json"
    notify = json.dumps({"command": f"cat > {got}", "when": ["budget"]})
    await _run(_job(tmp_path, notify), tmp_path)
    assert not got.exists()  # a complete run is "end", not asked for
    (tmp_path / "run").rename(tmp_path / "first")
    job = await _run(_job(tmp_path, notify, "budget: {max_usd: 0.03}"), tmp_path)
    assert job.result.status == "budget"
    sent: dict[str, Any] = json.loads(got.read_text())
    assert sent["event"] == "budget" and sent["reason"]


def test_each_run_is_one_event() -> None:
    assert event_of("complete", 0) == "end"
    assert event_of("interrupted", 0) == "end"
    assert event_of("complete", 2) == "failed"
    assert event_of("aborted", 0) == "failed"
    assert event_of("budget", 5) == "budget"


def test_notify_needs_a_webhook_or_a_command(tmp_path: Path) -> None:
    from batchgen.errors import ManifestError

    with pytest.raises(ManifestError) as caught:
        load_manifest(_job(tmp_path, "{when: [end]}"))
    assert "notify: names neither webhook_env nor command" in str(caught.value)
    with pytest.raises(ManifestError) as caught:
        load_manifest(_job(tmp_path, "{command: x, when: [ended]}"))
    assert "notify.when" in str(caught.value)


def test_the_command_line_prints_a_failed_notification_once_and_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from batchgen.cli import main

    monkeypatch.setenv(KEY_ENV, KEY)
    path = _job(tmp_path, '{command: "exit 3"}')
    result = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("warning: notify: command exited with status 3") == 1
