"""Paid-for images to disk: download retries (never a new generation), journal before rename."""

from __future__ import annotations

import posixpath
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import anyio

from batchgen import retry
from batchgen.errors import BatchgenError, DownloadError
from batchgen.expand import image_path
from batchgen.models import ImageRef, SavedImage, Task
from batchgen.providers.base import Provider
from batchgen.store.journal import Journal
from batchgen.store.sink import IMAGES_DIR, Sink

AttemptFailed = Callable[[Task, str, int, BatchgenError], None]
DOWNLOAD_BACKOFF_CAP_S = 10.0
RESUME_ATTEMPTS = 2


@dataclass(frozen=True, slots=True)
class SaveSettings:
    name: str
    filename: str
    max_attempts: int
    wait_scale: float = 1.0  # multiplies every retry wait; tests turn it down (stamina's habit)


class ImageSaver:
    def __init__(
        self,
        *,
        provider: Provider,
        sink: Sink,
        journal: Journal,
        settings: SaveSettings,
        attempt_failed: AttemptFailed,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._provider = provider
        self._sink = sink
        self._journal = journal
        self._settings = settings
        self._attempt_failed = attempt_failed
        self._rand = rand

    async def save_all(
        self,
        task: Task,
        model: str,
        refs: Sequence[ImageRef],
        saved: list[SavedImage],
        *,
        resuming: bool = False,
    ) -> None:
        """Bring every image to disk, appending to `saved` as each lands (so a failure part
        way still reports the files that are there). Resuming, images already on disk are
        kept, and links from a dead run get few tries: they may be gone for good."""
        attempts = RESUME_ATTEMPTS if resuming else self._settings.max_attempts
        on_disk = self._journal.saved_images(task.id) if resuming else {}
        for ref in refs:
            if ref.index in on_disk and (self._sink.root / on_disk[ref.index].path).exists():
                saved.append(on_disk[ref.index])
            else:
                saved.append(await self._save(task, model, ref, attempts))

    async def _save(self, task: Task, model: str, ref: ImageRef, attempts: int) -> SavedImage:
        for attempt in range(1, attempts + 1):
            try:
                return await self._save_once(task, ref)
            except DownloadError as exc:  # noqa: PERF203 - a retry loop, not a hot loop
                self._attempt_failed(task, model, attempt, exc)
                if attempt >= attempts or not exc.retryable:
                    raise
                delay = retry.backoff_s(attempt, rand=self._rand, cap=DOWNLOAD_BACKOFF_CAP_S)
                await anyio.sleep(delay * self._settings.wait_scale)
        raise AssertionError("unreachable")

    async def _save_once(self, task: Task, ref: ImageRef) -> SavedImage:
        async with self._provider.download(ref) as download:
            staged = await self._sink.stage(
                download.chunks,
                part_name=f"{task.id}-{ref.index}",
                path_for=lambda ext: self._path(task, ref.index, ext),
                index=ref.index,
                expected_bytes=download.expected_bytes,
            )
        try:
            # The row is durable before the file appears, so a kill between the two leaves a
            # row to drop on resume, never a file nobody knows about.
            self._journal.record_image(task.id, staged.image)
            await self._journal.durable()
        except BaseException:
            self._sink.discard(staged)
            raise
        return self._sink.place(staged)

    def _path(self, task: Task, index: int, ext: str) -> str:
        settings = self._settings
        inside = image_path(settings.filename, task, index=index, ext=ext, name=settings.name)
        return posixpath.join(IMAGES_DIR, inside)
