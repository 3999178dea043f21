"""Prometheus metrics of a real emulator run, scraped over loopback HTTP while it runs and after;
the figures agree with the run's own summary; `--metrics-port` on the command line; a clear
message when prometheus-client is missing."""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from batchgen.cli import main
from batchgen.manifest.load import load_manifest
from batchgen.metrics import MetricsServer, MetricsUnavailable
from batchgen.models import Outcome, Task
from batchgen.run.job import RunOptions, run_job
from batchgen.run.observer import Observer
from tests.helpers import FAST, many_prompts, write_manifest

JOB = f"""
    version: 1
    name: metered
    provider: {{kind: emulator, time_scale: 0, image_bytes: small, seed: 3,
                faults: "429=0.2,500=0.1"}}
    models: [{FAST}]
    num_images: 2
    limits: {{concurrency: 4, max_attempts: 8}}
    {many_prompts(12)}
"""


def scrape(port: int) -> dict[str, float]:
    """Every sample as name{labels} -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


class ScrapeMidway(Observer):
    """Behind the metrics observer: scrapes /metrics when the third task ends."""

    def __init__(self) -> None:
        self.port = 0
        self.midway: dict[str, float] = {}
        self.started_tasks = 0
        self.ended = 0

    def started(self, task: Task) -> None:
        self.started_tasks += 1

    def finished(self, outcome: Outcome) -> None:
        self.ended += 1
        if self.ended == 3:
            self.midway = scrape(self.port)  # the server answers from its own thread


@pytest.mark.anyio
async def test_metrics_are_served_during_and_after_a_run(tmp_path: Path) -> None:
    manifest = load_manifest(write_manifest(tmp_path, JOB))
    inner = ScrapeMidway()
    with MetricsServer(0, inner) as server:
        inner.port = server.port
        job = await run_job(
            manifest, RunOptions(out=tmp_path / "run", wait_scale=0.001), server.observer
        )
        after = scrape(server.port)
    s = job.summary
    assert inner.midway["batchgen_tasks_total{status=done}"] >= 3  # seen while running
    assert inner.started_tasks >= 3  # hooks pass through to the view behind
    assert after["batchgen_tasks_total{status=done}"] == s.tasks.done == 12
    assert after["batchgen_images_total{}"] == s.images.count == 24
    assert after["batchgen_spend_usd_total{}"] == pytest.approx(s.cost_usd.total)
    assert after["batchgen_tasks_in_progress{}"] == 0
    failed_attempts = sum(
        v for k, v in after.items() if k.startswith("batchgen_attempts_failed_total")
    )
    assert failed_attempts == sum(s.errors.attempts_by_kind.values()) > 0
    assert (
        after["batchgen_rate_limited_total{}"]
        == after.get("batchgen_attempts_failed_total{kind=rate_limited}", 0)
        > 0
    )
    assert after["batchgen_requests_total{}"] == 12 + failed_attempts
    assert after["batchgen_latency_seconds_count{phase=request}"] == 12
    with pytest.raises(OSError):
        scrape(server.port)  # closed with the block


def test_the_command_line_serves_metrics_for_the_run(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, JOB)
    result = CliRunner().invoke(
        main, ["run", str(path), "--out", str(tmp_path / "run"), "--metrics-port", "0"]
    )
    assert result.exit_code == 0, result.output
    assert "metrics: http://127.0.0.1:" in result.stderr


def test_a_missing_prometheus_client_is_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails as if absent
    with pytest.raises(MetricsUnavailable, match=r"pip install 'batchgen\[metrics\]'"):
        MetricsServer(0)
    path = write_manifest(tmp_path, JOB)
    result = CliRunner().invoke(main, ["run", str(path), "--metrics-port", "0"])
    assert result.exit_code == 1
    assert "batchgen[metrics]" in result.stderr and "Traceback" not in result.output
