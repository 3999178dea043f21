"""Runs into az:// (Azurite) and gs:// (a GCS emulator) through obstore, on loopback: the objects
whole, the state local, a rerun that uploads nothing. A server that cannot start, or cannot speak
what obstore sends, skips its tests and says exactly why."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from batchgen.cli import main
from tests import object_servers
from tests.helpers import EMULATOR, FAST, write_manifest

obstore = pytest.importorskip("obstore")
_CONTAINERS = itertools.count()  # a fresh container per test


def job(output: str) -> str:
    return f"""
        version: 1
        name: shop
        provider: {EMULATOR}
        models: [{FAST}]
        num_images: 2
        prompts: [a mug, a lamp]
        output: {output}
    """


def index(state: Path) -> list[dict[str, Any]]:
    lines = (state / "index.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@dataclass(frozen=True, slots=True)
class Container:
    server: object_servers.Server
    name: str

    def objects(self) -> dict[str, bytes]:
        return object_servers.azure_objects(self.server, self.name)


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object_servers.Server]:
    try:
        with object_servers.azurite(tmp_path_factory.mktemp("azurite")) as server:
            yield server
    except object_servers.ServerUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def azure(
    azurite: object_servers.Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Container:
    """A fresh container; obstore's environment chain points at Azurite's development account."""
    for key, value in {
        "AZURE_STORAGE_USE_EMULATOR": "true",
        "AZURITE_BLOB_STORAGE_URL": azurite.url,  # object_store's override of 127.0.0.1:10000
        "AZURE_STORAGE_ACCOUNT_NAME": object_servers.AZURITE_ACCOUNT,
        "AZURE_STORAGE_ACCOUNT_KEY": object_servers.AZURITE_KEY,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    container = Container(azurite, f"shop{next(_CONTAINERS)}")
    object_servers.azure_create_container(azurite, container.name)
    return container


def test_a_run_to_azure_puts_whole_objects_and_a_rerun_uploads_nothing(
    azure: Container, tmp_path: Path
) -> None:
    output = f"{{dir: 'az://{azure.name}/catalog', format: webp, sizes: [{{width: 128}}]}}"
    manifest = write_manifest(tmp_path, job(output))
    result = CliRunner().invoke(main, ["run", str(manifest), "--state", "state"])
    assert result.exit_code == 0, result.output
    stored = azure.objects()
    entries = index(tmp_path / "state")
    assert len(entries) == len(stored) == 2 * 2 * 2  # prompts x images x (original + 128)
    for entry in entries:
        data = stored[f"catalog/{entry['path']}"]
        assert data[8:12] == b"WEBP" and len(data) == entry["bytes"]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert entry["url"] == f"az://{azure.name}/catalog/{entry['path']}"
    assert not (tmp_path / "state" / "images").exists()
    again = CliRunner().invoke(main, ["run", str(manifest), "--state", "state"])
    assert again.exit_code == 0 and "this run 0 done" in again.output, again.output
    assert azure.objects() == stored


def test_an_object_of_the_same_size_but_other_bytes_is_replaced(
    azure: Container, tmp_path: Path
) -> None:
    """Azure's ETag is no MD5, so size alone cannot say an object at the key is the one this
    run made: its bytes are compared, and other bytes are replaced by the journal's."""
    manifest = write_manifest(tmp_path, job(f"{{dir: 'az://{azure.name}/k'}}"))
    first = CliRunner().invoke(main, ["run", str(manifest), "--state", "state"])
    assert first.exit_code == 0, first.output
    stored = azure.objects()
    # the state is lost, the bucket is not: the rerun renders again (other bytes, same size:
    # the emulator's files of one size class differ in their caption band) and meets every key
    again = CliRunner().invoke(main, ["run", str(manifest), "--state", "other"])
    assert again.exit_code == 0, again.output
    now = azure.objects()
    assert set(now) == set(stored)
    for entry in index(tmp_path / "other"):
        assert hashlib.sha256(now[f"k/{entry['path']}"]).hexdigest() == entry["sha256"]


@pytest.fixture(scope="module")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object_servers.Server]:
    try:
        with object_servers.gcs_emulator() as server:
            problem = object_servers.gcs_obstore_problem(
                server, tmp_path_factory.mktemp("gcs") / "service-account.json"
            )
            if problem is not None:
                pytest.skip(problem)
            yield server
    except object_servers.ServerUnavailable as exc:
        pytest.skip(str(exc))


def test_a_run_to_gcs_puts_whole_objects(
    gcs: object_servers.Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    account = object_servers.gcs_service_account(gcs, tmp_path / "service-account.json")
    monkeypatch.setenv("GOOGLE_SERVICE_ACCOUNT", str(account))
    manifest = write_manifest(tmp_path, job(f"{{dir: 'gs://{object_servers.GCS_BUCKET}/c'}}"))
    result = CliRunner().invoke(main, ["run", str(manifest), "--state", "state"])
    assert result.exit_code == 0, result.output
    stored = object_servers.gcs_objects(gcs, object_servers.GCS_BUCKET)
    for entry in index(tmp_path / "state"):
        data = stored[f"c/{entry['path']}"]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
