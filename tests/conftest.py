"""Shared fixtures: anyio on asyncio only (aiohttp and aiolimiter need it), and the command line
run from the test's own folder; the slow tests run first."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """batchgen's command line, run in tmp_path: runs write to ./out/<name> there."""
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first (xdist sends each module to one worker, in this order), so a long
    module such as test_ray starts early and the workers end together."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
