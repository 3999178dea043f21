"""Saving an image with output.format/sizes: every derived file staged and checked, the journal
row naming all of them made durable, then the files renamed into place (the first one last)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from batchgen.models import SavedImage, Task, Variant
from batchgen.run.runlog import RunLog
from batchgen.store.derive import Deriver, Encoded
from batchgen.store.sink import Sink, Staged

PathFor = Callable[[str, str], str]  # (size label, ext) -> path under the run directory


class ProcessClock:
    """Seconds each task's images spent being converted (decoded, resized, encoded, a wait for
    an encoder included), until its renderer takes them for the report's `process` phase."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}

    def add(self, task_id: str, seconds: float) -> None:
        self._seconds[task_id] = self._seconds.get(task_id, 0.0) + seconds

    def take(self, task_id: str) -> float | None:
        """The seconds added for the task since the last take; None: nothing was converted."""
        return self._seconds.pop(task_id, None)


async def save_variants(
    *,
    task: Task,
    original: Staged,
    deriver: Deriver,
    sink: Sink,
    log: RunLog,
    path_for: PathFor,
    clock: ProcessClock | None = None,
) -> SavedImage:
    """Derive the files from the staged, checked `original` and place them all, journal first.
    A failure anywhere leaves no derived file and no part behind."""
    staged: list[tuple[str, Staged]] = []
    try:
        started = time.monotonic()
        try:
            encoded = await deriver.derive_file(original.part, original.image.mime_type)
        finally:
            if clock is not None:
                clock.add(task.id, time.monotonic() - started)
        for item in encoded:
            staged.append((item.size, await _stage(item, original, sink, task, path_for)))  # noqa: PERF401 - one by one: a failure discards those staged so far
        image = _record(staged)
        await log.image_saved(task, image)  # durable before any file appears
    except BaseException:
        for _, each in staged:
            sink.discard(each)
        sink.discard(original)
        raise
    if all(each is not original for _, each in staged):
        sink.discard(original)  # re-encoded or not kept: its bytes are not a file of the run
    # The first file last: a rerun that finds it takes the image as saved, so it must be the
    # proof that every other file landed before it.
    first = staged[0][1]
    order = [each for _, each in [*staged[1:], staged[0]]]
    for done, each in enumerate(order):
        try:
            await sink.put(each, thumb=f"{task.id}-{each.image.index}" if each is first else None)
        except BaseException:  # noqa: PERF203 - a handful of files, and it must clean up
            for rest in order[done:]:
                sink.discard(rest)
            raise
    return image


async def _stage(
    item: Encoded, original: Staged, sink: Sink, task: Task, path_for: PathFor
) -> Staged:
    if item.unchanged:
        return original
    return await sink.stage(
        _one_chunk(item.data),
        part_name=f"{task.id}-{original.image.index}-{item.size}",
        path_for=lambda ext: path_for(item.size, ext),
        index=original.image.index,
    )


def _record(staged: list[tuple[str, Staged]]) -> SavedImage:
    first = staged[0][1].image
    variants = tuple(
        Variant(
            size=size,
            path=each.image.path,
            bytes=each.image.bytes,
            width=each.image.width,
            height=each.image.height,
            mime_type=each.image.mime_type,
            sha256=each.image.sha256,
        )
        for size, each in staged
    )
    return SavedImage(
        index=first.index,
        path=first.path,
        bytes=first.bytes,
        width=first.width,
        height=first.height,
        mime_type=first.mime_type,
        sha256=first.sha256,
        variants=variants,
    )


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data
