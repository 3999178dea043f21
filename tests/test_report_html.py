"""report.html from real runs on the emulator: every section, the edge cases, the gallery caps."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from html.parser import HTMLParser
from pathlib import Path

from batchgen.models import Outcome, SavedImage, Task, Timing
from batchgen.report import stats as report
from batchgen.report.files import write_reports
from batchgen.report.gallery import MAX_IMAGES, collect, gallery_html
from batchgen.report.summary import Summary
from batchgen.run.job import RunOptions, run
from batchgen.store.journal import Journal
from tests.helpers import FAST, load, many_prompts

ULTRA = "google/imagen-4.0-ultra-generate-001"


class Page(HTMLParser):
    """The parts of a page the tests look at: ids, tags, attributes, visible text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        self.tags.append((tag, values))
        if "id" in values:
            self.ids.add(values["id"])

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag]

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


def render(tmp_path: Path, body: str) -> tuple[Path, Page, Summary]:
    job = run(load(tmp_path, body), RunOptions(out=tmp_path / "run"))
    html = (job.run_dir / "report.html").read_text(encoding="utf-8")
    return job.run_dir, Page(html), job.summary


MIXED = f"""
    version: 1
    name: mixed
    provider: {{kind: emulator, time_scale: 0, image_bytes: small, seed: 3,
                faults: "policy=0.3,retired={ULTRA}"}}
    models: [{FAST}, {ULTRA}]
    aspect_ratios: ["1:1", "16:9"]
    num_images: 2
    {many_prompts(6)}
"""


def test_the_page_has_every_section_and_stands_alone(tmp_path: Path) -> None:
    run_dir, page, summary = render(tmp_path, MIXED)
    assert {"headline", "latency", "throughput", "timeline", "settings", "cost", "errors",
            "gallery"} <= page.ids  # fmt: skip
    done, failed = summary.tasks.done, summary.tasks.failed
    assert done > 0 and failed >= 12  # every Ultra task: the model is retired
    words = page.words
    assert f"Images {done * 2}" in words and f"Failures {failed}" in words
    assert "Images / s" in words and "Total cost $" in words and "Cost per image $" in words
    # four charts drawn by matplotlib, inline: request CDF, throughput, timeline, cost
    assert len(page.all("svg")) == 4
    assert "request latency per task (s)" in words and "images / s" in words
    assert "in flight" in words and "limit" in words and "429s" in words
    assert "Request p50" in words and "queue p50" in words
    assert "aspect ratio" in words and "cost (USD)" in words
    # errors by kind, each with an example that names the status and the prompt
    assert "model_retired" in words and "rejected" in words
    assert "HTTP 404" in words and "HTTP 400" in words and "(prompt: Test frame" in words
    # the gallery: every image, grouped by prompt, each card with model, aspect, latency, cost
    assert f"Showing {done * 2} of {done * 2} images (6 of 6 prompts" in words
    assert len(page.all("h3")) == 6  # one heading per prompt
    assert re.search(r"imagen-4\.0-fast-generate-001 · 16:9 · [\d.]+ s · \$0\.0420", words)
    assert "failed: model_retired" in words
    images = page.all("img")
    assert len(images) == done * 2
    assert all(img["src"].startswith("data:image/jpeg;base64,") for img in images)
    links = [a["href"] for a in page.all("a")]
    assert links and all((run_dir / link).is_file() for link in links)
    # nothing is fetched: no scripts, stylesheets or remote sources
    assert not page.all("script") and not page.all("link")
    assert not [a for _, a in page.tags if re.match(r"https?:", a.get("src", a.get("href", "")))]


def test_thumbnails_are_small_and_made_once(tmp_path: Path) -> None:
    run_dir, _, _ = render(tmp_path, MIXED)
    thumbs = sorted((run_dir / "thumbs").glob("*.jpg"))
    assert thumbs
    from PIL import Image

    for thumb in thumbs:
        with Image.open(thumb) as picture:
            assert picture.format == "JPEG" and max(picture.size) <= 160
    before = {thumb: thumb.stat().st_mtime_ns for thumb in thumbs}
    journal = Journal.open(run_dir, lock=False)
    try:
        write_reports(run_dir, journal, name="mixed")
    finally:
        journal.close()
    assert {thumb: thumb.stat().st_mtime_ns for thumb in thumbs} == before


def test_fresh_forgets_the_old_report_and_thumbnails(tmp_path: Path) -> None:
    run_dir, _, _ = render(tmp_path, MIXED)
    stale = run_dir / "thumbs" / "stale.jpg"
    stale.write_bytes(b"old")
    job = run(load(tmp_path, MIXED), RunOptions(out=run_dir, fresh=True))
    assert not stale.exists() and (run_dir / "report.html").is_file()
    assert len(list((run_dir / "thumbs").glob("*.jpg"))) == job.summary.images.count


def test_only_failures_still_make_a_whole_page(tmp_path: Path) -> None:
    _, page, _ = render(tmp_path, MIXED.replace("policy=0.3", "policy=1"))
    words = page.words
    assert "Images 0" in words and "Failures 24" in words
    assert "No task was rendered: no latency to show." in words
    assert "No image was rendered: no throughput to show." in words
    assert "Nothing was spent." in words and "Cost per image –" in words
    assert "No image was rendered yet: nothing to show." not in words  # failed cards are shown
    assert words.count("failed: rejected") + words.count("failed: model_retired") == 24


def test_a_single_task_makes_a_whole_page(tmp_path: Path) -> None:
    _, page, summary = render(tmp_path, f"""
        version: 1
        provider: {{kind: emulator, time_scale: 0, image_bytes: small}}
        models: {FAST}
        prompts: ["One racoon"]
    """)  # fmt: skip
    assert summary.images.to_json() == {"count": 1, "bytes": summary.images.bytes}
    assert len(page.all("svg")) == 4 and len(page.all("img")) == 1
    assert "No errors: every attempt succeeded." in page.words
    assert "Showing 1 of 1 images (1 of 1 prompts" in page.words


def test_a_journal_with_no_task_at_all(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    try:
        run_id = journal.begin_run(name="empty", planned=0, started_at=time.time())
        journal.end_run(run_id, finished_at=time.time(), wall_s=0.0, status="complete")
        write_reports(tmp_path, journal, name="empty")
    finally:
        journal.close()
    words = Page((tmp_path / "report.html").read_text(encoding="utf-8")).words
    assert "Images 0" in words and "No image was rendered yet: nothing to show." in words
    assert json.loads((tmp_path / "report.json").read_text())["tasks"]["planned"] == 0


def _fake_outcome(ordinal: int, model: str) -> Outcome:
    task = Task(f"t{ordinal:05d}", ordinal, f"prompt {ordinal // 4}", model, "1:1", 1)
    image = SavedImage(0, f"images/gone-{ordinal}.png", 1000, 1024, 1024, "image/png")
    timing = Timing(0.1, 1.0 + ordinal % 7, 0.2, 1.5 + ordinal % 7)
    return Outcome(task, "done", 1, timing, 0.021, model, (image,), None, None, 1.0, 2.0)


def _bulk_journal(run_dir: Path, count: int) -> None:
    """A journal of `count` rendered tasks whose files are gone, written in one transaction."""
    journal = Journal.open(run_dir)
    try:
        run_id = journal.begin_run(name="big", planned=count, started_at=1.0)
        journal.end_run(run_id, finished_at=100.0, wall_s=99.0, status="complete")
    finally:
        journal.close()
    tasks = [
        (f"t{i:05d}", i, run_id, "done", (FAST, ULTRA)[i % 2], None, "1:1", f"prompt {i // 4}",
         None, 1, 1, 1, 0.1, 1.0 + i % 7, 0.2, 1.5 + i % 7, 0.021, None, None, 1.0, 2.0 + i / 100)
        for i in range(count)
    ]  # fmt: skip
    images = [(f"t{i:05d}", 0, f"images/gone-{i}.png", 1000, 1024, 1024, "image/png")
              for i in range(count)]  # fmt: skip
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        # the first 21 columns by name: later columns (row_id, row, sha256) may stay empty
        columns = [row[1] for row in db.execute("PRAGMA table_info(tasks)")][:21]
        marks = ", ".join("?" * 21)
        db.executemany(f"INSERT INTO tasks ({', '.join(columns)}) VALUES ({marks})", tasks)
        db.executemany(
            "INSERT INTO images (task_id, idx, path, bytes, width, height, mime_type)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            images,
        )


def test_ten_thousand_images_are_capped_and_the_page_stays_small(tmp_path: Path) -> None:
    _bulk_journal(tmp_path, 10_000)
    journal = Journal.open(tmp_path)
    try:
        gallery = collect(journal)
        summary = write_reports(tmp_path, journal, name="big")
    finally:
        journal.close()
    assert summary.images.count == 10_000 and summary.images_per_s > 100
    assert gallery.shown_images == MAX_IMAGES and gallery.total_images == 10_000
    assert len(gallery.groups) == MAX_IMAGES // 4 and gallery.total_prompts == 2_500
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    words = Page(html).words
    assert f"Showing {MAX_IMAGES} of 10,000 images (100 of 2,500 prompts" in words
    assert "every file is in images/ and listed in tasks.csv" in words
    assert words.count("missing: gone-") == MAX_IMAGES  # the files are gone; the page is not
    assert "google/imagen-4.0-ultra-generate-001 end-to-end 5,000" in words
    assert len(html) < 1_000_000


def test_a_prompt_with_many_tasks_is_cut_and_says_how_many_more(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    try:
        run_id = journal.begin_run(name="wide", planned=40, started_at=1.0)
        for ordinal in range(40):
            outcome = _fake_outcome(ordinal, FAST)
            task = Task(outcome.task.id, ordinal, "one prompt", FAST, "1:1", 1)
            journal.record(Outcome(task, "done", 1, outcome.timing, 0.021), run_id=run_id)
        gallery = collect(journal)
    finally:
        journal.close()
    (group,) = gallery.groups
    assert (len(group.shots), group.more_tasks) == (24, 16)
    assert "and 16 more tasks" in gallery_html(gallery, tmp_path)


def test_duration_text() -> None:
    texts = [report.duration_text(s) for s in (None, 0.0042, 0.73, 12.46, 200, 9000)]
    assert texts == ["–", "4.2 ms", "0.73 s", "12.5 s", "3 min 20 s", "2 h 30 min"]
