"""Nothing paid is paid again: a CDN outage longer than the download retries, a kill right
after paying (links or inline base64 answers), a journal lost beside its images."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import aiohttp
import anyio
import pytest
from click.testing import CliRunner

from batchgen.cli import main
from batchgen.emulator import Emulator, EmulatorConfig, running_emulator
from batchgen.errors import JournalError
from batchgen.manifest.load import load_manifest
from batchgen.models import Manifest, ProviderConfig
from batchgen.run.job import RunOptions, run_job
from batchgen.store.journal import Journal
from batchgen.store.paidlog import INLINE_DIR, PAID_LOG
from tests.helpers import FAST, check_run_dir, check_run_dir_fast, journal_rows, load, many_prompts
from tests.paid_requests import PAY_THEN_DIE

pytestmark = pytest.mark.anyio
FAST_USD = 0.02  # aimlapi's price for one FAST image (42,000 credits is $0.021)
OPTIONS = RunOptions(wait_scale=0.001, html=False)


async def _files_fail(emulator: Emulator, status: int | None) -> None:
    """Open (an HTTP error status) or close (None) a window in which every download fails."""
    async with aiohttp.ClientSession() as session:
        url = f"{emulator.base_url}/_emulator/files"
        async with session.put(url, json={"status": status}) as response:
            assert response.status == 200


def _on(emulator: Emulator, manifest: Manifest) -> Manifest:
    config = ProviderConfig(kind="emulator", base_url=emulator.base_url)
    return dataclasses.replace(manifest, provider=config)


def _counting() -> EmulatorConfig:
    return EmulatorConfig(time_scale=0, image_bytes="small", count_prompts=True)


async def test_a_cdn_outage_longer_than_the_retries_keeps_the_paid_generation(
    tmp_path: Path,
) -> None:
    manifest = load(tmp_path, f"""
        version: 1
        models: [{FAST}]
        num_images: 2
        limits: {{max_attempts: 3}}
        {many_prompts(4)}
    """)  # fmt: skip
    async with running_emulator(_counting()) as emulator:
        manifest = _on(emulator, manifest)
        options = dataclasses.replace(OPTIONS, out=tmp_path / "run")
        await _files_fail(emulator, 503)
        first = await run_job(manifest, options)
        assert (first.result.done, first.result.failed) == (0, 4)
        rows = journal_rows(first.run_dir, "SELECT error_kind, error_message FROM tasks")
        assert all(kind == "download" for kind, _ in rows)
        assert all("paid; links kept for the next run" in message for _, message in rows)
        paid = journal_rows(first.run_dir, "SELECT SUM(cost_usd) FROM tasks")[0][0]
        assert paid > 0

        still_down = await run_job(manifest, options)  # the host is still failing
        assert still_down.result.failed == 4
        await _files_fail(emulator, None)
        again = await run_job(manifest, options)  # the links are still valid
        assert again.result.done == 4
        assert set(emulator.stats.prompts_served.values()) == {1}  # each bought once
        assert emulator.stats.generation_requests == 4
    assert journal_rows(again.run_dir, "SELECT SUM(cost_usd) FROM tasks")[0][0] == pytest.approx(
        paid
    )  # the kept generations' cost is counted once
    assert journal_rows(again.run_dir, "SELECT COUNT(*) FROM generations") == [(0,)]
    assert check_run_dir(again.run_dir) == 8


async def test_links_gone_for_good_are_bought_again_once(tmp_path: Path) -> None:
    manifest = load(tmp_path, f"""
        version: 1
        models: [{FAST}]
        limits: {{max_attempts: 2}}
        {many_prompts(2)}
    """)  # fmt: skip
    async with running_emulator(_counting()) as emulator:
        manifest = _on(emulator, manifest)
        options = dataclasses.replace(OPTIONS, out=tmp_path / "run")
        await _files_fail(emulator, 503)
        await run_job(manifest, options)
        await _files_fail(emulator, 410)  # the kept links expired: buy again (those fail too)
        expired = await run_job(manifest, options)
        assert expired.result.failed == 2
        assert set(emulator.stats.prompts_served.values()) == {2}
        await _files_fail(emulator, None)
        last = await run_job(manifest, options)
        assert last.result.done == 2
        assert set(emulator.stats.prompts_served.values()) == {2}  # the new links served
    assert check_run_dir(last.run_dir) == 2


ANSWERS = {  # dialect, model, params, images per request
    "aimlapi-url": ("aimlapi", FAST, "{}", 2),
    "aimlapi-b64": ("aimlapi", FAST, "{convert_base64_to_url: false}", 2),
    "gemini-predict": ("gemini", FAST, "{}", 2),
    "gemini-generateContent": ("gemini", "gemini-2.5-flash-image", "{}", 1),
    "openai-b64_json": ("openai", "gpt-image-2", "{}", 2),
}


@pytest.mark.parametrize("answer", sorted(ANSWERS))
async def test_a_kill_right_after_paying_loses_no_generation(tmp_path: Path, answer: str) -> None:
    dialect, model, params, count = ANSWERS[answer]
    async with running_emulator(_counting()) as emulator:
        job = tmp_path / "job.yaml"
        job.write_text(
            f"version: 1\nname: killed\nmodels: [{model}]\nnum_images: {count}\n"
            f"params: {params}\nprompts: [a lighthouse at dawn]\nprovider: "
            f'{{kind: emulator, dialect: {dialect}, base_url: "{emulator.base_url}"}}\n'
        )
        run_dir = tmp_path / "run"
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
        child = await anyio.run_process(
            [sys.executable, "-c", PAY_THEN_DIE, str(job), str(run_dir)], check=False, env=env
        )
        assert child.returncode == -9, child.stderr.decode()[-2000:]
        assert emulator.stats.prompts_served["a lighthouse at dawn"] == 1
        rerun = await run_job(load_manifest(job), dataclasses.replace(OPTIONS, out=run_dir))
        assert rerun.result.done == 1
        assert emulator.stats.prompts_served["a lighthouse at dawn"] == 1  # not bought again
    assert check_run_dir_fast(run_dir) == count
    assert journal_rows(run_dir, "SELECT cost_usd FROM tasks") == [(pytest.approx(0.04),)]
    assert (run_dir / PAID_LOG).stat().st_size == 0
    assert not any((run_dir / INLINE_DIR).glob("*"))  # staged images gone once saved


def test_a_torn_line_in_the_paid_log_is_skipped(tmp_path: Path) -> None:
    Journal.open(tmp_path).close()
    (tmp_path / PAID_LOG).write_bytes(b'["t1", 1, "m", "[]", 0.5, 1.0]\n["t2", 1, "m", "[{"ind')
    journal = Journal.open(tmp_path)
    try:
        rows = journal.query("SELECT task_id, cost_usd FROM generations")
        assert [tuple(row) for row in rows] == [("t1", 0.5)]
    finally:
        journal.close()
    assert (tmp_path / PAID_LOG).stat().st_size == 0  # folded in, then emptied


@pytest.mark.parametrize("loss", ["deleted", "emptied"])
async def test_a_new_journal_beside_images_refuses_to_run(tmp_path: Path, loss: str) -> None:
    manifest = load(tmp_path, f"""
        version: 1
        models: [{FAST}]
        {many_prompts(3)}
    """)  # fmt: skip
    async with running_emulator(_counting()) as emulator:
        manifest = _on(emulator, manifest)
        options = dataclasses.replace(OPTIONS, out=tmp_path / "run")
        first = await run_job(manifest, options)
        files = {p: p.stat().st_mtime_ns for p in (first.run_dir / "images").rglob("*.png")}
        for suffix in ("", "-wal", "-shm"):
            (first.run_dir / f"journal.sqlite{suffix}").unlink(missing_ok=True)
        if loss == "emptied":
            (first.run_dir / "journal.sqlite").write_bytes(b"")
        with pytest.raises(JournalError) as refused:
            await run_job(manifest, options)
        assert str(first.run_dir / "images") in str(refused.value)
        assert "--fresh" in str(refused.value)
        assert emulator.stats.generation_requests == 3  # nothing was sent
        assert {p: p.stat().st_mtime_ns for p in files} == files  # nothing was overwritten
        fresh = await run_job(manifest, dataclasses.replace(options, fresh=True))
        assert fresh.result.done == 3


def test_the_cli_says_which_folder_and_which_flag(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(
        "version: 1\nname: lost\nprovider: {kind: emulator, time_scale: 0, image_bytes: small}\n"
        f"models: [{FAST}]\nprompts: [a red kite]\n"
    )
    out = tmp_path / "out"
    runner = CliRunner()
    assert runner.invoke(main, ["run", str(job), "--out", str(out), "--quiet"]).exit_code == 0
    (out / "journal.sqlite").unlink()
    (out / "journal.sqlite-wal").unlink(missing_ok=True)
    refused = runner.invoke(main, ["run", str(job), "--out", str(out), "--quiet"])
    assert refused.exit_code == 1
    assert f"{out / 'images'} holds images" in refused.output and "--fresh" in refused.output
    fresh = runner.invoke(main, ["run", str(job), "--out", str(out), "--quiet", "--fresh"])
    assert fresh.exit_code == 0
