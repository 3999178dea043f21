"""`notify:` — a run's summary JSON, when it ends, to a webhook (POST, retried with backoff) and/or
a local command (on its stdin). Best effort: a failure is a warning, never a failed run.

Nothing here carries a key: the summary holds none, the POST has no provider headers (its own
session, no credentials), the command's environment has the providers' key variables removed,
and warnings name the webhook's host, never its URL (a webhook URL is often itself a secret).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import anyio
from yarl import URL

from batchgen.models import Manifest, NotifyConfig
from batchgen.providers import KINDS
from batchgen.providers.http import USER_AGENT

WEBHOOK_ATTEMPTS = 4
WEBHOOK_TIMEOUT_S = 10.0
FIRST_BACKOFF_S = 0.5  # then 1 s, 2 s: a receiver that restarts has a few seconds
COMMAND_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class RunEnd:
    """How one run ended, as the notification says it."""

    event: str  # end | failed | budget
    status: str
    reason: str | None
    run_dir: str
    summary: Mapping[str, Any]  # report.json's content

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "status": self.status,
            "reason": self.reason,
            "run_dir": self.run_dir,
            "summary": dict(self.summary),
        }


def event_of(status: str, failed_tasks: int) -> str:
    """budget: stopped at the budget; failed: aborted, or some task failed; end: otherwise."""
    if status == "budget":
        return "budget"
    if status == "aborted" or failed_tasks:
        return "failed"
    return "end"


async def notify(
    config: NotifyConfig, manifest: Manifest, end: RunEnd, *, wait_scale: float = 1.0
) -> tuple[str, ...]:
    """Send `end` where `config` says, if its event is wanted; returns warnings (empty: sent)."""
    if end.event not in config.when:
        return ()
    body = json.dumps(end.to_json(), indent=2).encode()
    warnings: list[str] = []
    if config.webhook_env:
        url = os.environ.get(config.webhook_env, "")
        if not url:
            warnings.append(f"notify: {config.webhook_env} is not set; no webhook was sent")
        else:
            warnings += await post_webhook(url, body, wait_scale=wait_scale)
    if config.command:
        warnings += await run_command(config.command, body, end, key_free_env(manifest))
    return tuple(warnings)


async def post_webhook(url: str, body: bytes, *, wait_scale: float = 1.0) -> list[str]:
    """POST `body` until a 2xx, up to WEBHOOK_ATTEMPTS; 4xx other than 408/429 is final."""
    host = _host(url)
    if host is None:
        return ["notify: the webhook URL is not an http(s) URL; nothing was sent"]
    last = ""
    async with aiohttp.ClientSession(
        headers={"User-Agent": USER_AGENT, "Content-Type": "application/json"},
        timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S),
    ) as session:
        for attempt in range(WEBHOOK_ATTEMPTS):
            if attempt:
                await anyio.sleep(FIRST_BACKOFF_S * 2 ** (attempt - 1) * wait_scale)
            try:
                async with session.post(url, data=body, allow_redirects=False) as response:
                    status = response.status
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                last = type(exc).__name__
                continue
            if 200 <= status < 300:
                return []
            last = f"HTTP {status}"
            if 400 <= status < 500 and status not in (408, 429):
                break
    return [f"notify: webhook to {host} failed ({last}) after {attempt + 1} attempt(s)"]


def _host(url: str) -> str | None:
    try:
        parsed = URL(url)
    except ValueError:
        return None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return None
    return parsed.host


def key_free_env(manifest: Manifest) -> dict[str, str]:
    """The environment without any variable a provider key is read from."""
    keys = {name for kind in KINDS.values() for name in kind.key_envs}
    if manifest.provider.api_key_env:
        keys.add(manifest.provider.api_key_env)
    return {name: value for name, value in os.environ.items() if name not in keys}


async def run_command(command: str, body: bytes, end: RunEnd, env: dict[str, str]) -> list[str]:
    """Run `command` in a shell with the summary JSON on stdin; a non-zero exit is a warning."""
    env = {
        **env,
        "BATCHGEN_EVENT": end.event,
        "BATCHGEN_STATUS": end.status,
        "BATCHGEN_RUN_DIR": end.run_dir,
    }
    try:
        with anyio.fail_after(COMMAND_TIMEOUT_S):
            code = await _feed(command, body, env)
    except TimeoutError:
        return [f"notify: command did not finish within {COMMAND_TIMEOUT_S:.0f} s"]
    except OSError as exc:
        return [f"notify: command could not start ({exc.strerror or type(exc).__name__})"]
    return [f"notify: command exited with status {code}"] if code else []


async def _feed(command: str, body: bytes, env: dict[str, str]) -> int:
    """Run `command` in a shell, `body` on its stdin (one that never reads it is no error)."""
    process = await anyio.open_process(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    async with process:
        assert process.stdin is not None  # opened with a pipe (the default)
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            await process.stdin.send(body)
        await process.stdin.aclose()
        return await process.wait()
