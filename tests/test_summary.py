"""The typed Summary: report.json is exactly its to_json(); every field agrees with the journal of a
real emulator run (read here with plain sqlite3 and Python, not the report's own queries); it is
frozen; and mypy sees its types."""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from mypy import api as mypy_api

import batchgen
from batchgen.report.files import rebuild_reports
from batchgen.report.names import Phase
from batchgen.report.stats import bucket_width
from batchgen.report.summary import Latency, Summary
from batchgen.run.job import JobResult, RunOptions, run
from tests.helpers import FAST, journal_rows, load, many_prompts

ULTRA = "google/imagen-4.0-ultra-generate-001"
STANDARD = "google/imagen-4.0-generate-001"
ROOT = Path(__file__).parent.parent
# Ultra is retired and falls back to Standard; some prompts are refused; some attempts fail once
JOB = f"""
    version: 1
    name: typed
    provider: {{kind: emulator, time_scale: 0, image_bytes: small, seed: 5,
                faults: "policy=0.15,500=0.1,retired={ULTRA}"}}
    models: [{FAST}, {ULTRA}]
    fallback: {{{ULTRA}: {STANDARD}}}
    aspect_ratios: ["1:1", "16:9"]
    num_images: 2
    limits: {{concurrency: 4, max_attempts: 3}}
    {{prompts}}
"""


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> JobResult:
    """A job run twice into one folder, the second time with more prompts."""
    folder = tmp_path_factory.mktemp("typed")
    options = RunOptions(out=folder / "run", html=False, wait_scale=0.001)
    run(load(folder, JOB.replace("{prompts}", many_prompts(6))), options)
    return run(load(folder, JOB.replace("{prompts}", many_prompts(9))), options)


def test_report_json_is_to_json_to_the_byte(two_runs: JobResult) -> None:
    text = (two_runs.run_dir / "report.json").read_text(encoding="utf-8")
    assert text == json.dumps(two_runs.summary.to_json(), indent=2) + "\n"
    assert list(json.loads(text)) == [
        "name", "generated_at", "tasks", "images", "wall_s", "images_per_s", "latency_s",
        "cost_usd", "errors", "runs",
    ]  # fmt: skip
    assert list(json.loads(text)["runs"][0]) == [
        "id", "started_at", "finished_at", "wall_s", "planned", "status", "tasks_done", "images",
        "images_per_s", "throughput", "settings", "timeline",  # the last two added by issue 17
    ]  # fmt: skip


def test_a_rebuild_from_the_journal_alone_says_the_same(two_runs: JobResult) -> None:
    rebuilt = rebuild_reports(two_runs.run_dir)
    assert dataclasses.replace(rebuilt, generated_at=0.0) == dataclasses.replace(
        two_runs.summary, generated_at=0.0
    )


def test_counts_costs_and_runs_match_the_journal(two_runs: JobResult) -> None:
    s, run_dir = two_runs.summary, two_runs.run_dir
    status = Counter(row[0] for row in journal_rows(run_dir, "SELECT status FROM tasks"))
    assert s.tasks.done == status["done"] > 0 and s.tasks.failed == status["failed"] > 0
    assert (
        s.tasks.planned == 9 * 2 * 2 and s.tasks.pending == 36 - status["done"] - status["failed"]
    )
    images = journal_rows(
        run_dir,
        "SELECT i.bytes FROM images i JOIN tasks t ON t.id = i.task_id WHERE t.status = 'done'",
    )
    assert (s.images.count, s.images.bytes) == (len(images), sum(b for (b,) in images))
    tasks = journal_rows(run_dir, "SELECT model, model_used, aspect_ratio, cost_usd FROM tasks")
    by_model: dict[str, float] = defaultdict(float)
    for model, used, _, cost in tasks:
        by_model[used or model] += cost
    assert s.cost_usd.by_model == pytest.approx(dict(by_model))
    rendered = [m.model for m in s.model_latency]
    assert STANDARD in rendered and ULTRA not in rendered  # retired: every Ultra task fell back
    assert s.cost_usd.total == pytest.approx(sum(cost for *_, cost in tasks))
    assert sum(cell.cost_usd for cell in s.cost_usd.cells) == pytest.approx(s.cost_usd.total)
    assert sum(cell.images for cell in s.cost_usd.cells) == s.images.count
    assert s.cost_usd.per_image == pytest.approx(s.cost_usd.total / s.images.count)
    runs = journal_rows(run_dir, "SELECT id, wall_s FROM runs ORDER BY id")
    assert [r.id for r in s.runs] == [1, 2] and s.wall_s == pytest.approx(sum(w for _, w in runs))
    for record in s.runs:
        done = journal_rows(
            run_dir, f"SELECT image_count FROM tasks WHERE status = 'done' AND run_id = {record.id}"
        )
        assert (record.tasks_done, record.images) == (len(done), sum(n for (n,) in done))
        width = bucket_width(record.wall_s or 0.0)
        assert [p.t_s for p in record.throughput] == [
            i * width for i in range(len(record.throughput))
        ]
        total = sum(point.images_per_s * width for point in record.throughput)
        assert total == pytest.approx(record.images)


def test_errors_match_the_journal(two_runs: JobResult) -> None:
    errors, run_dir = two_runs.summary.errors, two_runs.run_dir
    attempts = Counter(kind for (kind,) in journal_rows(run_dir, "SELECT kind FROM errors"))
    assert dict(errors.attempts_by_kind) == dict(attempts)
    assert list(errors.attempts_by_kind.values()) == sorted(attempts.values(), reverse=True)
    failed = journal_rows(run_dir, "SELECT error_kind FROM tasks WHERE status = 'failed'")
    assert dict(errors.failed_tasks_by_kind) == dict(Counter(kind for (kind,) in failed))
    assert {"model_retired", "rejected", "server_error"} <= set(errors.attempts_by_kind)
    assert set(errors.samples) == set(errors.examples) == set(attempts)
    for kind, samples in errors.samples.items():
        rows = journal_rows(run_dir, f"SELECT message FROM errors WHERE kind = '{kind}'")
        messages = {message for (message,) in rows}
        assert 1 <= len(samples) <= 3 and {sample.message for sample in samples} <= messages
        assert len({sample.message for sample in samples}) == len(samples)  # distinct
        assert errors.examples[kind] == max(messages)


def test_latency_overall_and_per_model_matches_the_journal(two_runs: JobResult) -> None:
    s, run_dir = two_runs.summary, two_runs.run_dir
    rows = journal_rows(
        run_dir,
        "SELECT model, model_used, wait_s, request_s, download_s, total_s FROM tasks"
        " WHERE status = 'done'",
    )
    phases: tuple[Phase, ...] = ("wait", "request", "download", "end_to_end")
    for column, phase in enumerate(phases, start=2):
        assert_latency(s.latency_s.of(phase), [row[column] for row in rows])
    per_model: dict[str, list[float]] = defaultdict(list)
    for model, used, *_, total in rows:
        per_model[used or model].append(total)
    assert [m.model for m in s.model_latency] == sorted(per_model)
    for item in s.model_latency:
        assert_latency(item.latency.end_to_end, per_model[item.model])
        assert item.count == len(per_model[item.model])
        assert item.cdf[0] == (min(per_model[item.model]), 0.0)
        assert item.cdf[-1] == (max(per_model[item.model]), 1.0)
        fractions = [fraction for _, fraction in item.cdf]
        assert fractions == sorted(fractions) and len(item.cdf) == min(item.count, 201)
    assert sum(m.count for m in s.model_latency) == s.tasks.done == s.latency_s.end_to_end.count


def assert_latency(latency: Latency, values: list[float]) -> None:
    values = sorted(values)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    assert latency.count == len(values) and latency.max == values[-1]
    assert latency.mean == pytest.approx(statistics.fmean(values))
    for q, value in ((50, latency.p50), (90, latency.p90), (95, latency.p95), (99, latency.p99)):
        assert value == pytest.approx(cuts[q - 1])


def test_the_summary_is_frozen_and_public(two_runs: JobResult) -> None:
    summary = two_runs.summary
    assert isinstance(summary, Summary) and batchgen.Summary is Summary
    assert "Summary" in batchgen.__all__
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.tasks.done = 0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.latency_s.end_to_end.p50 = 0.0  # type: ignore[misc]
    assert not hasattr(summary, "__dict__")  # slots


def test_nothing_yet_is_none_not_zero() -> None:
    empty = Latency.of([])
    assert empty == Latency(0, None, None, None, None, None, None)
    assert empty.to_json() == {
        "count": 0, "mean": None, "p50": None, "p90": None, "p95": None, "p99": None, "max": None
    }  # fmt: skip
    one = Latency.of([2.5])
    assert (one.count, one.mean, one.p50, one.p99, one.max) == (1, 2.5, 2.5, 2.5, 2.5)


SNIPPET = """
from batchgen import JobResult, Summary


def p95(job: JobResult) -> float | None:
    summary: Summary = job.summary
    reveal_type(summary.latency_s.end_to_end.p95)
    reveal_type(summary.cost_usd.by_model)
    reveal_type(summary.runs[0].throughput[0].images_per_s)
    summary.tasks.done = 3
    return summary["images_per_s"]
"""


@pytest.mark.slow  # seconds with the project's mypy cache warm; a minute or more when cold
@pytest.mark.timeout(600)
def test_mypy_sees_the_summarys_types(tmp_path: Path) -> None:
    snippet = tmp_path / "summary_snippet.py"
    snippet.write_text(SNIPPET, encoding="utf-8")
    config = ["--config-file", str(ROOT / "pyproject.toml")]
    report, _, status = mypy_api.run(
        [*config, "--cache-dir", str(ROOT / ".mypy_cache"), str(snippet)]
    )
    # mypy may name the file of an earlier, identical check (its cache): match on the name only
    found = [
        line.split(f"{snippet.name}:", 1)[1].replace("builtins.", "").replace("typing.", "")
        for line in report.splitlines()
        if f"{snippet.name}:" in line
    ]
    assert status == 1, report
    assert found[:3] == [
        '7: note: Revealed type is "float | None"',
        '8: note: Revealed type is "Mapping[str, float]"',
        '9: note: Revealed type is "float"',
    ]
    errors = found[3:]
    assert any(e.startswith("10: error: ") and "read-only" in e for e in errors), report
    assert any(e.startswith("11: error: ") and e.endswith("[index]") for e in errors), report
