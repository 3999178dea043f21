"""Paid-for images to disk: download retries (never a new generation), journal before rename."""

from __future__ import annotations

import itertools
import posixpath
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import anyio

from batchgen.errors import DownloadError
from batchgen.expand import image_path
from batchgen.models import ORIGINAL_SIZE, ImageRef, OutputConfig, SavedImage, Task
from batchgen.providers.base import Provider
from batchgen.retry import Retry, RetryPolicy, decide
from batchgen.run.runlog import RunLog
from batchgen.run.variants import ProcessClock, save_variants
from batchgen.store.derive import Deriver, size_template
from batchgen.store.sink import IMAGES_DIR, Sink


@dataclass(frozen=True, slots=True)
class SaveSettings:
    """Where an image goes: the run's name and its filename pattern."""

    name: str
    filename: str
    output: OutputConfig | None = None  # format/sizes to derive (None: files as they came)


class ImageSaver:
    def __init__(
        self,
        *,
        provider: Provider,
        sink: Sink,
        log: RunLog,
        settings: SaveSettings,
        policy: RetryPolicy,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._provider = provider
        self._sink = sink
        self._log = log
        self._settings = settings
        self._policy = policy
        self._rand = rand
        output = settings.output
        self._deriver = Deriver(output) if output is not None and output.derives else None
        self.clock = ProcessClock()  # the `process` phase: see run/variants.py

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
        policy = self._policy.resuming() if resuming else self._policy
        on_disk = self._log.saved_images(task.id) if resuming else {}
        for ref in refs:
            if ref.index in on_disk and await self._sink.has(on_disk[ref.index].path):
                saved.append(on_disk[ref.index])
            elif ref.url is None and ref.b64 is None:  # staged inline bytes that are gone
                raise DownloadError(f"image {ref.index}: its paid bytes are lost", retryable=False)
            else:
                saved.append(await self._save(task, model, ref, policy))

    async def _save(self, task: Task, model: str, ref: ImageRef, policy: RetryPolicy) -> SavedImage:
        for attempt in itertools.count(1):
            try:
                return await self._save_once(task, ref)
            except DownloadError as exc:  # noqa: PERF203 - a retry loop, not a hot loop
                self._log.attempt_failed(task, model, attempt, exc)
                decision = decide(exc, attempt, policy, rand=self._rand)
                if not isinstance(decision, Retry):
                    raise
                await anyio.sleep(decision.after_s)
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
        if self._deriver is not None:  # output.format/sizes: see run/variants.py
            return await save_variants(
                task=task,
                original=staged,
                deriver=self._deriver,
                sink=self._sink,
                log=self._log,
                path_for=lambda size, ext: self._path(task, ref.index, ext, size),
                clock=self.clock,
            )
        try:
            await self._log.image_saved(task, staged.image)  # durable before the rename
        except BaseException:
            self._sink.discard(staged)
            raise
        return await self._sink.put(staged, thumb=f"{task.id}-{ref.index}")

    def _path(self, task: Task, index: int, ext: str, size: str = ORIGINAL_SIZE) -> str:
        settings = self._settings
        template = settings.filename if size == ORIGINAL_SIZE else size_template(settings.filename)
        inside = image_path(template, task, index=index, ext=ext, name=settings.name, size=size)
        return posixpath.join(IMAGES_DIR, inside)
