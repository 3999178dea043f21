"""The report's gallery: tasks grouped by prompt in job order, capped so the page opens at once.
Small JPEG thumbnails are made once into thumbs/ and embedded, so report.html stands alone; each
links to its full image in images/ beside the report."""

from __future__ import annotations

import base64
import itertools
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html import escape
from operator import attrgetter
from pathlib import Path
from urllib.parse import quote

from PIL import Image

from batchgen.report.index import BUCKET_META, PUBLIC_URL_META
from batchgen.report.names import THUMBS_DIR
from batchgen.report.read import GalleryRow, gallery_rows, gallery_totals
from batchgen.store.journal import Journal

THUMB_PX = 160  # longest side
THUMB_QUALITY = 70
MAX_IMAGES = 400  # shown in the page; every image is still in images/ and tasks.csv
MAX_TASKS_PER_PROMPT = 24


@dataclass(frozen=True, slots=True)
class Shot:
    """One task's card: what it asked for, how it went, its images as (file, thumbnail)."""

    task_id: str
    model: str
    aspect_ratio: str
    status: str
    total_s: float | None
    cost_usd: float
    error_kind: str | None
    images: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Group:
    prompt: str
    shots: tuple[Shot, ...]
    more_tasks: int  # tasks of this prompt left out by the caps


@dataclass(frozen=True, slots=True)
class Gallery:
    groups: tuple[Group, ...]
    shown_images: int
    total_images: int
    total_prompts: int

    @property
    def capped(self) -> bool:
        return self.shown_images < self.total_images or len(self.groups) < self.total_prompts


def collect(journal: Journal, *, max_images: int = MAX_IMAGES) -> Gallery:
    """The first prompts' tasks in job order until `max_images` images are shown (images in a
    bucket linked by their object URL, or through output.public_url when it has one: a
    browser opens https, not s3://). Local files are linked in place, public_url or not."""
    bucket = journal.meta(BUCKET_META) or ""
    if bucket:
        bucket = (journal.meta(PUBLIC_URL_META) or bucket).rstrip("/")
    groups: list[Group] = []
    shown = 0
    for prompt, prompt_rows in itertools.groupby(gallery_rows(journal), key=attrgetter("prompt")):
        if shown >= max_images:
            break
        shots: list[Shot] = []
        more = 0
        for _, task_rows in itertools.groupby(prompt_rows, key=attrgetter("task_id")):
            if len(shots) >= MAX_TASKS_PER_PROMPT or shown >= max_images:
                more += 1
                continue
            shots.append(_shot(list(task_rows), bucket))
            shown += len(shots[-1].images)
        groups.append(Group(prompt, tuple(shots), more))
    total_images, total_prompts = gallery_totals(journal)
    return Gallery(tuple(groups), shown, total_images, total_prompts)


def _shot(rows: list[GalleryRow], bucket: str = "") -> Shot:
    first = rows[0]
    images = tuple(
        (
            f"{bucket}/{row.path}" if bucket else row.path,
            f"{THUMBS_DIR}/{first.task_id}-{row.index}.jpg",
        )
        for row in rows
        if row.path is not None and first.status == "done"
    )
    return Shot(
        first.task_id, first.model, first.aspect_ratio, first.status, first.total_s,
        first.cost_usd, first.error_kind, images,
    )  # fmt: skip


def make_thumbnails(run_dir: Path, gallery: Gallery, *, limit: int | None = None) -> frozenset[str]:
    """Write the thumbnails that are missing or older than their image, the first `limit` of
    them (None: all); returns the thumbnails left to make (their images are on disk)."""
    todo = [
        (image, thumb)
        for image, thumb in _pairs(gallery)
        if _stale(run_dir / image, run_dir / thumb)
    ]
    now, later = (todo, []) if limit is None else (todo[:limit], todo[limit:])
    if now:
        (run_dir / THUMBS_DIR).mkdir(exist_ok=True)
        # Pillow decodes and resizes without the GIL: threads use every core
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            list(pool.map(lambda pair: _thumbnail(run_dir / pair[0], run_dir / pair[1]), now))
    return frozenset(thumb for _, thumb in later)


def _pairs(gallery: Gallery) -> Iterator[tuple[str, str]]:
    for group in gallery.groups:
        for shot in group.shots:
            yield from shot.images


def _stale(image: Path, thumb: Path) -> bool:
    try:
        return thumb.stat().st_mtime < image.stat().st_mtime
    except FileNotFoundError:
        return image.exists()


def _thumbnail(image: Path, thumb: Path) -> bool:
    part = thumb.with_name(thumb.name + ".part")
    try:
        with Image.open(image) as picture:
            picture.draft("RGB", (THUMB_PX * 2, THUMB_PX * 2))  # JPEG sources decode smaller
            picture.thumbnail((THUMB_PX, THUMB_PX))
            picture.convert("RGB").save(part, "JPEG", quality=THUMB_QUALITY)
        os.replace(part, thumb)
    except (OSError, ValueError, Image.DecompressionBombError):
        part.unlink(missing_ok=True)
        return False  # the card shows the image as missing; the report is still written
    return True


def gallery_html(gallery: Gallery, run_dir: Path, deferred: frozenset[str] = frozenset()) -> str:
    """The gallery section: a note on what is shown, then one block of cards per prompt."""
    if not gallery.groups:
        return _section(_note("No image was rendered yet: nothing to show."))
    note = (
        f"Showing {gallery.shown_images:,} of {gallery.total_images:,} images "
        f"({len(gallery.groups):,} of {gallery.total_prompts:,} prompts, in job order)."
    )
    if gallery.capped:
        note += (
            f" The page stops at {MAX_IMAGES:,} images and {MAX_TASKS_PER_PROMPT} tasks a prompt "
            "so it opens at once; every file is in images/ and listed in tasks.csv."
        )
    blocks = "".join(_group_html(group, run_dir, deferred) for group in gallery.groups)
    return _section(_note(note) + blocks)


def _section(inner: str) -> str:
    return f'<section id="gallery"><h2>Gallery</h2>{inner}</section>'


def _note(text: str) -> str:
    return f'<p class="note" id="gallery-note">{escape(text)}</p>'


def _group_html(group: Group, run_dir: Path, deferred: frozenset[str]) -> str:
    cards = "".join(_card(shot, run_dir, deferred) for shot in group.shots)
    more = f'<p class="note">and {group.more_tasks:,} more tasks</p>' if group.more_tasks else ""
    return (
        f'<div class="group"><h3>{escape(group.prompt)}</h3>'
        f'<div class="shots">{cards}</div>{more}</div>'
    )


def _card(shot: Shot, run_dir: Path, deferred: frozenset[str]) -> str:
    if shot.status != "done":
        pictures = f'<div class="missing">failed: {escape(shot.error_kind or "unknown")}</div>'
    else:
        pictures = "".join(
            _picture(image, thumb, run_dir, thumb in deferred) for image, thumb in shot.images
        )
    latency = "–" if shot.total_s is None else f"{shot.total_s:.2f} s"
    model = shot.model.split("/", 1)[-1]  # the vendor prefix says little in a narrow card
    caption = f"{model} · {shot.aspect_ratio} · {latency} · ${shot.cost_usd:.4f}"
    wide = ' class="multi"' if len(shot.images) > 1 else ""
    return (
        f'<figure{wide} title="{escape(shot.model)}"><div class="imgs">{pictures}</div>'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _picture(image: str, thumb: str, run_dir: Path, deferred: bool = False) -> str:
    link = escape(_href(image))
    if deferred:  # no thumbnail made yet: the browser scales the image itself, when shown
        return f'<a href="{link}"><img loading="lazy" alt="" src="{link}"></a>'
    try:
        data = base64.b64encode((run_dir / thumb).read_bytes()).decode("ascii")
    except OSError:
        return f'<div class="missing">missing: {escape(Path(image).name)}</div>'
    return f'<a href="{link}"><img loading="lazy" alt="" src="data:image/jpeg;base64,{data}"></a>'


def _href(image: str) -> str:
    """A file's relative link, or a bucket object's URL as it is (its scheme kept)."""
    scheme, found, rest = image.partition("://")
    return f"{scheme}://{quote(rest)}" if found else quote(image)
