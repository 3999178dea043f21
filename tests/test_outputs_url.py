"""Each file's `url` in index.jsonl and index.csv: its path in the run directory for a local run,
the object's URL for a bucket run, and output.public_url + path when the manifest gives one."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from batchgen.cli import main
from tests.helpers import EMULATOR, FAST, write_manifest
from tests.s3_kit import s3_environment, s3_server

CDN = "https://cdn.example.com/catalog"


def job(output: str) -> str:
    return f"""
        version: 1
        name: shop
        provider: {EMULATOR}
        models: [{FAST}]
        prompts: [a mug, a lamp]
        output: {output}
    """


def run(runner: CliRunner, folder: Path, output: str, *extra: str) -> Path:
    manifest = write_manifest(folder, job(output))
    result = runner.invoke(main, ["run", str(manifest), "--out", "run", *extra])
    assert result.exit_code == 0, result.output
    return folder / "run"


def indexed(run_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    lines = (run_dir / "index.jsonl").read_text(encoding="utf-8").splitlines()
    with (run_dir / "index.csv").open(encoding="utf-8", newline="") as stream:
        return [json.loads(line) for line in lines], list(csv.DictReader(stream))


def test_a_local_files_url_is_its_path_in_the_run_directory(
    runner: CliRunner, tmp_path: Path
) -> None:
    run_dir = run(runner, tmp_path, "{sizes: [{width: 100}]}")
    entries, table = indexed(run_dir)
    assert len(entries) == len(table) == 4
    for entry, row in zip(entries, table, strict=True):
        assert entry["url"] == row["url"] == entry["path"]
        assert (run_dir / entry["url"]).is_file()


def test_public_url_prefixes_every_path(runner: CliRunner, tmp_path: Path) -> None:
    run_dir = run(runner, tmp_path, f"{{public_url: '{CDN}/'}}")
    entries, table = indexed(run_dir)
    assert [row["url"] for row in table] == [f"{CDN}/{e['path']}" for e in entries]
    assert [e["url"] for e in entries] == [row["url"] for row in table]
    # rebuilt from the journal alone: the same
    assert runner.invoke(main, ["report", str(run_dir)]).exit_code == 0
    assert indexed(run_dir)[1] == table


def test_a_public_url_that_is_not_http_is_refused_where_it_is(
    runner: CliRunner, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path, job("{public_url: 's3://shop/catalog'}"))
    result = runner.invoke(main, ["validate", str(manifest)])
    assert result.exit_code == 2
    assert "output.public_url" in result.output and "http(s) URL" in result.output


boto3 = pytest.importorskip("boto3")


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    with s3_server() as url:
        yield url


@pytest.fixture
def bucket(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key, value in s3_environment(s3_url).items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1")
    client.create_bucket(Bucket="urls")
    yield client
    for item in client.list_objects_v2(Bucket="urls").get("Contents", []):
        client.delete_object(Bucket="urls", Key=item["Key"])
    client.delete_bucket(Bucket="urls")


@pytest.mark.parametrize("public", [False, True])
def test_a_bucket_objects_url(runner: CliRunner, tmp_path: Path, bucket: Any, public: bool) -> None:
    output = "{dir: 's3://urls/catalog'" + (f", public_url: '{CDN}'" if public else "") + "}"
    run_dir = run(runner, tmp_path, output, "--state", "state")
    entries, table = indexed(tmp_path / "state")
    assert not run_dir.exists()
    keys = {item["Key"] for item in bucket.list_objects_v2(Bucket="urls")["Contents"]}
    assert keys == {f"catalog/{e['path']}" for e in entries}
    base = CDN if public else "s3://urls/catalog"
    assert [row["url"] for row in table] == [f"{base}/{e['path']}" for e in entries]
    html = (tmp_path / "state" / "report.html").read_text(encoding="utf-8")
    assert f'href="{base}/images/' in html
