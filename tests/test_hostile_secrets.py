"""A server that echoes the key everywhere it can: the key reaches no file and no output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from batchgen.errors import ServerError
from batchgen.providers.wire import json_object
from batchgen.redact import clip, remember
from tests.helpers import FAST, write_manifest
from tests.hostile_server import echo_app, forms, serving

KEY = "sk-hostile/Key+with=odd&chars_7f3a9c2e51d8b604"
WORDS: tuple[str, ...] = ("nonjson", "nonjson300", "err500", "err400", "err429", "ftp", "longurl")
WORDS += ("redirect", "textimage", "notimage", "other")


def leaks(text: str | bytes) -> list[str]:
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    return [name for name, form in forms(KEY).items() if form.encode() in data]


def test_a_hostile_server_cannot_put_the_key_into_any_file_or_output(tmp_path: Path) -> None:
    with serving(echo_app(KEY)) as base_url:
        manifest = write_manifest(
            tmp_path,
            f"""
            version: 1
            name: hostile
            provider: {{kind: aimlapi, base_url: "{base_url}", api_key_env: HOSTILE_KEY}}
            models: [{FAST}]
            prompts: [{", ".join(f'"{word} prompt"' for word in WORDS)}]
            limits: {{concurrency: 4, max_attempts: 1, request_timeout_s: 10}}
            """,
        )
        env = {**os.environ, "HOSTILE_KEY": KEY, "BATCHGEN_RETRY_SCALE": "0"}
        runs = [
            subprocess.run(
                [sys.executable, "-m", "batchgen", *args],
                capture_output=True,
                env=env,
                timeout=120,
                check=False,
            )
            for args in (
                ["run", str(manifest), "--out", str(tmp_path / "out")],
                ["run", str(manifest), "--out", str(tmp_path / "out"), "--json"],
                ["report", str(tmp_path / "out")],
            )
        ]
    assert runs[0].returncode == 1, runs[0].stderr.decode()
    for done in runs:
        assert b"Traceback" not in done.stderr, done.stderr.decode()
        assert leaks(done.stdout) == [] and leaks(done.stderr) == []
    files = [path for path in (tmp_path / "out").rglob("*") if path.is_file()]
    assert {path.name for path in files} >= {"journal.sqlite", "report.json", "tasks.csv"}
    for path in files:
        assert leaks(path.read_bytes()) == [], path
    report = (tmp_path / "out" / "report.json").read_text()
    assert "***" in report  # the messages were kept, masked


def test_redaction_comes_before_the_cut() -> None:
    remember(KEY)
    for cut in range(1, len(KEY)):
        text = "z" * (100 - cut) + KEY + " tail"
        assert leaks(clip(text, 100)) == []
    with pytest.raises(ServerError) as caught:
        json_object(("y" * 190 + f"Authorization: Bearer {KEY}").encode())
    assert leaks(str(caught.value)) == []


def test_a_key_typed_into_the_manifest_is_not_printed_by_validate(tmp_path: Path) -> None:
    typed = "sk-proj-typedIntoTheFile0123456789"
    manifest = write_manifest(
        tmp_path,
        f"""
        version: 1
        name: typed
        provider: {{kind: aimlapi, api_key_env: {typed}, api_key: {typed}}}
        models: [{FAST}]
        params: {{api_key: "{typed}", token: abcdefghijkl}}
        prompts: [a]
        """,
    )
    done = subprocess.run(
        [sys.executable, "-m", "batchgen", "validate", str(manifest)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    output = (done.stdout + done.stderr).decode()
    assert "params.api_key" in output and "provider.api_key" in output  # still located
    assert typed[6:] not in output and typed[:20] not in output, output
