"""Issue 17 points 1 and 3 on the emulator: the request split at the wire (ttfb, body), queueing
apart, the engine's timeline (in flight, limit, 429s), and each run's settings in the journal."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from batchgen.models import Limits, Manifest, PromptSpec, ProviderConfig
from batchgen.report.read import read_summary
from batchgen.run.job import RunOptions, run
from batchgen.run.settings import run_settings
from batchgen.store.journal import Journal
from tests.helpers import FAST, journal_rows, load, many_prompts, write_manifest

JOB = f"""
    version: 1
    name: observed
    provider: {{kind: emulator, time_scale: 0, image_bytes: small, seed: 5}}
    models: [{FAST}]
    {many_prompts(6)}
"""
# A server that takes 3 at a time; the adaptive limit probes past it and hears 429s.
CROWDED = f"""
    version: 1
    name: crowded
    provider: {{kind: emulator, time_scale: 0.02, image_bytes: small, seed: 5,
                max_concurrency: 3}}
    models: [{FAST}]
    {many_prompts(30)}
"""


def test_the_request_is_split_at_the_wire_and_queueing_kept_apart(tmp_path: Path) -> None:
    job = run(load(tmp_path, JOB), RunOptions(out=tmp_path / "run", html=False))
    rows = journal_rows(job.run_dir, "SELECT wait_s, request_s, ttfb_s, body_s FROM tasks")
    assert len(rows) == 6
    for wait_s, request_s, ttfb_s, body_s in rows:
        assert wait_s >= 0 and ttfb_s > 0 and body_s >= 0
        assert ttfb_s + body_s <= request_s  # measured inside the request's own clock
    latency = json.loads((job.run_dir / "report.json").read_text())["latency_s"]
    # the keys report.json always had, then the new ones
    assert list(latency)[:4] == ["wait", "request", "download", "end_to_end"]
    assert latency["headline"] == "request"
    assert latency["queue"] == latency["wait"]
    assert latency["ttfb"]["count"] == latency["body"]["count"] == 6
    ttfbs = sorted(row[2] for row in rows)
    assert latency["ttfb"]["max"] == ttfbs[-1]  # exact, from every task
    assert job.summary.model_latency[0].request_cdf[-1] == (latency["request"]["max"], 1.0)


def test_the_engine_is_sampled_and_429s_land_on_the_timeline(tmp_path: Path) -> None:
    job = run(load(tmp_path, CROWDED), RunOptions(out=tmp_path / "run", wait_scale=0.01))
    assert job.summary.tasks.done == 30
    samples = journal_rows(job.run_dir, "SELECT in_flight, concurrency, adaptive FROM samples")
    assert len(samples) >= 2  # at the start and at the end, and about once a second between
    assert all(adaptive == 1 and limit >= 1 for _, limit, adaptive in samples)
    assert samples[-1][0] == 0  # the last sample: nothing left in flight
    refused = journal_rows(job.run_dir, "SELECT COUNT(*) FROM errors WHERE status = 429")[0][0]
    assert refused > 0  # the adaptive limit found the server's 3 by its refusals
    run_record = job.summary.runs[-1]
    assert run_record.rate_limited == refused
    report = json.loads((job.run_dir / "report.json").read_text())
    timeline = report["runs"][-1]["timeline"]
    assert sum(point["rate_limited"] for point in timeline) == refused
    page = (job.run_dir / "report.html").read_text(encoding="utf-8")
    assert 'id="timeline"' in page and "429s" in page and "in flight" in page
    assert f"{refused:,} attempts refused with HTTP 429" in page


def test_every_run_records_its_settings(tmp_path: Path) -> None:
    manifest_path = write_manifest(tmp_path, JOB)
    job = run(load(tmp_path, JOB), RunOptions(out=tmp_path / "run", concurrency=3, html=True))
    (text,) = journal_rows(job.run_dir, "SELECT settings FROM runs")[0]
    settings = json.loads(text)
    assert settings["provider"] == {
        "kind": "emulator", "api": "aimlapi", "base_url": "(in-process emulator)",
    }  # fmt: skip
    assert settings["models"] == [FAST]
    assert settings["limits"]["concurrency"] == 3  # the command line's, not the manifest's
    assert settings["mode"] == "live" and settings["batchgen_version"]
    digest = hashlib.sha256(manifest_path.read_bytes()).hexdigest()
    assert settings["manifest_sha256"] == digest
    assert job.summary.runs[-1].settings == settings
    page = (job.run_dir / "report.html").read_text(encoding="utf-8")
    assert 'id="settings"' in page and "limits.concurrency" in page and digest in page


def test_settings_never_hold_a_key_or_userinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSERVE_KEY", "sk-observe-secret-123456")
    manifest = Manifest(
        name="x",
        prompts=(PromptSpec("a"),),
        models=(FAST,),
        provider=ProviderConfig(
            kind="aimlapi",
            base_url="https://user:pa55@api.example.com/v1?key=sk-observe-secret-123456#frag",
            api_key_env="OBSERVE_KEY",
        ),
        limits=Limits(concurrency=None),
    )
    settings = run_settings(manifest)
    text = json.dumps(settings)
    assert settings["provider"]["base_url"] == "https://api.example.com/v1"
    assert "pa55" not in text and "sk-observe" not in text and "OBSERVE_KEY" not in text
    assert settings["limits"]["concurrency"] == "adaptive"
    assert settings["manifest_sha256"] is None  # built in code: no file


def test_an_older_journal_gains_the_new_columns_and_still_reads(tmp_path: Path) -> None:
    job = run(load(tmp_path, JOB), RunOptions(out=tmp_path / "run", html=False))
    with sqlite3.connect(job.run_dir / "journal.sqlite") as conn:  # as schema 1 made it
        for table, column in (("tasks", "ttfb_s"), ("tasks", "body_s"), ("runs", "settings")):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.execute("DROP TABLE samples")
    old = Journal.open_readonly(job.run_dir)  # a comparison reads it as it is
    try:
        summary = read_summary(old, name="old")
    finally:
        old.close()
    assert summary.latency_s.request.count == 6 and summary.latency_s.ttfb.count == 0
    assert summary.runs[-1].settings is None and summary.runs[-1].timeline == ()
    Journal.open(job.run_dir).close()  # opening it for a run adds them back
    columns = {row[1] for row in journal_rows(job.run_dir, "PRAGMA table_info(tasks)")}
    assert {"ttfb_s", "body_s"} <= columns
