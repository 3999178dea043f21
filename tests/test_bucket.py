"""Runs into an S3 bucket served by moto on loopback: objects whole and verified, the state kept
local (--state), reruns that upload nothing twice and buy nothing twice (after a SIGKILL too,
on the built-in emulator whose links die with the run), storage faults retried within bounds."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from batchgen.cli import main
from tests.helpers import (
    EMULATOR,
    FAST,
    emulator_process,
    journal_rows,
    served_by_prompt,
    write_manifest,
)
from tests.paid_requests import paid_requests, request_of
from tests.s3_kit import s3_environment, s3_server
from tests.s3_proxy import FaultyProxy

boto3 = pytest.importorskip("boto3")

BUCKET = "shop"


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    with s3_server() as url:
        yield url


@pytest.fixture
def s3(s3_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """A fresh bucket; the SDK chain's environment points at the loopback server."""
    for key, value in s3_environment(s3_url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    client = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def job(output: str, count: int = 3, provider: str = EMULATOR) -> str:
    values = ", ".join(f"item{i}" for i in range(count))
    return f"""
        version: 1
        name: shop
        provider: {provider}
        models: [{FAST}]
        num_images: 2
        prompts:
          - template: "Studio photo of a {{thing}}"
            vars: {{thing: [{values}]}}
        output: {output}
    """


def objects(client: Any) -> dict[str, bytes]:
    listing = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {
        item["Key"]: client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        for item in listing
    }


def index(state: Path) -> list[dict[str, Any]]:
    lines = (state / "index.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_a_run_to_s3_puts_whole_objects_and_keeps_the_state_local(s3: Any, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, job('{dir: "s3://shop/catalog/{name}"}'))
    result = CliRunner().invoke(main, ["run", str(manifest), "--state", "state"])
    assert result.exit_code == 0, result.output
    stored = objects(s3)
    entries = index(tmp_path / "state")
    assert len(entries) == len(stored) == 6
    for entry in entries:
        data = stored[f"catalog/shop/{entry['path']}"]
        assert entry["url"] == f"s3://shop/catalog/shop/{entry['path']}"
        assert data.startswith(b"\x89PNG") and len(data) == entry["bytes"]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    state = tmp_path / "state"
    assert (state / "journal.sqlite").is_file() and (state / "report.json").is_file()
    assert not (state / "images").exists()  # the images are in the bucket only
    # the gallery's thumbnails were made from the bytes in hand
    assert len(list((state / "thumbs").glob("*.jpg"))) == 6
    page = (state / "report.html").read_text(encoding="utf-8")
    assert "missing:" not in page and 'href="s3://shop/catalog/shop/images/' in page
    assert list(state.rglob("*.part")) == []
    # a rerun renders and uploads nothing
    again = CliRunner().invoke(main, ["run", str(manifest), "--state", "state"])
    assert again.exit_code == 0 and "this run 0 done" in again.output, again.output
    assert objects(s3) == stored


def test_webp_sizes_go_to_the_bucket(s3: Any, tmp_path: Path) -> None:
    output = '{dir: "s3://shop/w", format: webp, sizes: [{width: 256}]}'
    manifest = write_manifest(tmp_path, job(output, count=2))
    result = CliRunner().invoke(main, ["run", str(manifest), "--state", "state"])
    assert result.exit_code == 0, result.output
    stored = objects(s3)
    assert len(stored) == 2 * 2 * 2
    assert all(data[8:12] == b"WEBP" for data in stored.values())
    assert {f"w/{e['path']}" for e in index(tmp_path / "state")} == set(stored)


@pytest.mark.slow
def test_refused_uploads_are_retried_and_every_object_lands_once(
    s3: Any, s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FaultyProxy(s3_url, fail_every=3) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        manifest = write_manifest(tmp_path, job('{dir: "s3://shop/f"}', count=4))
        result = CliRunner().invoke(main, ["run", str(manifest), "--state", "state"])
        assert result.exit_code == 0, result.output
    assert proxy.refused >= 2  # the faults did happen
    stored = objects(s3)
    assert len(stored) == 8
    assert set(proxy.stored.values()) == {1}  # each object written once
    for entry in index(tmp_path / "state"):
        assert hashlib.sha256(stored[f"f/{entry['path']}"]).hexdigest() == entry["sha256"]


@contextmanager
def emulator_of(which: str) -> Iterator[tuple[str, str | None]]:
    """The provider line, and where the emulator's counters are read (None: the built-in
    emulator, which lives and dies in the run's process)."""
    if which == "built-in":
        yield EMULATOR, None
        return
    with emulator_process("--time-scale", "0", "--image-bytes", "small", "--count-prompts") as url:
        yield f'{{kind: emulator, base_url: "{url}"}}', url


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("which", ["built-in", "external"])
def test_sigkill_during_uploads_then_a_rerun_uploads_only_what_is_missing(
    s3: Any, s3_url: str, tmp_path: Path, which: str
) -> None:
    with emulator_of(which) as (provider, stats), FaultyProxy(s3_url) as proxy:
        manifest = write_manifest(
            tmp_path, job('{dir: "s3://shop/k"}', count=30, provider=provider)
        )
        state = tmp_path / "state"
        command = [sys.executable, "-m", "batchgen", "run", str(manifest), "--state", str(state)]
        env = {**os.environ, "AWS_ENDPOINT_URL": proxy.url, "PYTHONUNBUFFERED": "1"}
        run = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 120
        while sum(proxy.stored.values()) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
        landed = sum(proxy.stored.values())
        assert 6 <= landed < 60, "the kill landed during the uploads"
        # after the kill: every object there is whole and named by a durable journal row
        rows = journal_rows(state, "SELECT path, bytes, sha256 FROM images")
        known = {f"k/{path}": (size, sha) for path, size, sha in rows}
        for key, data in objects(s3).items():
            assert key in known
            assert (len(data), hashlib.sha256(data).hexdigest()) == known[key]
        paid = paid_requests(state)  # what the killed run had paid for: never bought again
        done = {row[0] for row in journal_rows(state, "SELECT id FROM tasks WHERE status = 'done'")}
        assert paid or done, "the kill landed after answers were paid for"
        final = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=200)
        assert final.returncode == 0, final.stderr.decode()[-2000:]
        answers = served_by_prompt(stats) if stats is not None else None
    stored = objects(s3)
    assert len(stored) == 60
    # each object was written once: none uploaded again, and no image was bought again
    # (a task bought again would write its keys again, with new images)
    assert set(proxy.stored.values()) == {1}
    drawn: dict[str, set[str]] = {}  # task -> the emulator requests its objects came from
    for task_id, path in journal_rows(state, "SELECT task_id, path FROM images"):
        drawn.setdefault(task_id, set()).add(request_of(stored[f"k/{path}"])[0])
    assert len(drawn) == 30 and all(len(requests) == 1 for requests in drawn.values())
    assert all(drawn[task_id] == requests for task_id, requests in paid.items())
    if answers is not None:  # the emulator outlived the kill: count its answers by prompt
        prompt_of = dict(journal_rows(state, "SELECT id, prompt FROM tasks"))
        assert all(answers[prompt_of[task_id]] == 1 for task_id in paid.keys() | done)
        # only an answer the killed run had not yet recorded as paid may be bought again
        assert sum(answers.values()) - 30 <= 30 - len(paid.keys() | done)
    entries = index(state)
    assert {f"k/{e['path']}" for e in entries} == set(stored)
    for entry in entries:
        assert hashlib.sha256(stored[f"k/{entry['path']}"]).hexdigest() == entry["sha256"]
    assert journal_rows(state, "SELECT count(*) FROM tasks WHERE status = 'done'") == [(30,)]
