"""Shared fixtures: anyio on asyncio only (aiohttp and aiolimiter need it), and the command line
run from the test's own folder; the slow tests run first."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

LONGEST_MODULE = "test_ray.py"  # a local Ray cluster and five jobs on it: ~200 s of the suite


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """batchgen's command line, run in tmp_path: runs write to ./out/<name> there."""
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long work first (xdist sends each module to one worker, in this order), so the workers
    end together instead of one running test_ray alone at the end."""
    items.sort(key=_later)


def _later(item: pytest.Item) -> tuple[bool, bool]:
    return item.path.name != LONGEST_MODULE, item.get_closest_marker("slow") is None
