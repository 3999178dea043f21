"""report.html in a real headless browser (Debian's chromium): the DOM it builds and a screenshot
that is not blank. Skipped, saying why, where no chromium is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from batchgen.run.job import RunOptions, run
from tests.helpers import FAST, load, many_prompts
from tests.test_report_html import Page

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((path for name in BROWSERS if (path := shutil.which(name))), None)
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no chromium on PATH (apt-get install -y chromium to run this test)"
)
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars",
)  # fmt: skip


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    assert BROWSER is not None
    profile = tmp_path / "profile"
    command = [BROWSER, *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, timeout=90, check=True)


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    manifest = load(folder, f"""
        version: 1
        name: browser
        provider: {{kind: emulator, time_scale: 0, image_bytes: small, seed: 1,
                    faults: "policy=0.2"}}
        models: [{FAST}, google/imagen4/preview]
        aspect_ratios: ["1:1", "16:9", "9:16"]
        {many_prompts(4)}
    """)  # fmt: skip
    job = run(manifest, RunOptions(out=folder / "run"))
    return job.run_dir / "report.html"


def test_the_browser_builds_every_part_of_the_page(report_page: Path, tmp_path: Path) -> None:
    dom = chromium(tmp_path, "--dump-dom", report_page.as_uri()).stdout.decode()
    page = Page(dom)
    assert {"headline", "latency", "throughput", "cost", "errors", "gallery"} <= page.ids
    assert {"card-images", "card-failures", "card-wall", "card-rate", "card-cost"} <= page.ids
    # issue 17: the request CDF per model, the engine's timeline and the run's settings
    assert {"timeline", "settings", "card-request"} <= page.ids
    assert len(page.all("svg")) == 4
    words = page.words
    assert "request latency per task (s)" in words
    assert "in flight" in words and "429s" in words and "limits.concurrency" in words
    images = page.all("img")
    assert images and all(img["src"].startswith("data:image/jpeg") for img in images)
    assert "rejected" in page.words and "Showing" in page.words


def test_the_screenshot_shows_the_report(report_page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    chromium(tmp_path, "--window-size=1280,2000", f"--screenshot={shot}", report_page.as_uri())
    with Image.open(shot) as picture:
        assert picture.format == "PNG" and picture.size == (1280, 2000)
        pixels = picture.convert("RGB")
        colours = pixels.getcolors(maxcolors=1_000_000)
        corner = pixels.getpixel((2, 2))
    assert colours is not None and len(colours) > 200  # text, charts and thumbnails: not blank
    assert corner == (246, 247, 249)  # the page's own background: the inline CSS applied
