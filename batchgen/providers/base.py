"""The provider seam: one small interface the engine talks to, and helpers every provider shares."""

from __future__ import annotations

import abc
import base64
import binascii
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from batchgen.errors import DownloadError
from batchgen.models import Generation, ImageRef, Task

B64_CHUNK_CHARS = 256 * 1024  # a multiple of 4, so every slice decodes on its own


@dataclass(frozen=True, slots=True)
class Download:
    """An image's bytes as they arrive, and how many the sender promised (if it said)."""

    chunks: AsyncIterator[bytes]
    expected_bytes: int | None = None


class QueueBook(Protocol):
    """Where a queued provider notes each request it made (store/queuelog.py), and what an
    earlier run noted that no result was read for: (task id, model) -> the request's URLs."""

    @property
    def kept(self) -> Mapping[tuple[str, str], dict[str, str]]: ...

    def accepted(self, task_id: str, model: str, urls: Mapping[str, str]) -> None: ...


class Provider(abc.ABC):
    """Turns a task into a Generation, and a Generation's references into bytes."""

    kind: str = "provider"

    @abc.abstractmethod
    async def generate(self, task: Task, *, model: str) -> Generation:
        """Send one request; raise a ProviderError subclass when it gives no images."""

    @abc.abstractmethod
    def fetch(self, ref: ImageRef) -> AbstractAsyncContextManager[Download]:
        """Open the image behind a URL reference for streaming."""

    def download(self, ref: ImageRef) -> AbstractAsyncContextManager[Download]:
        """Inline base64 is decoded in slices; URLs go to `fetch`."""
        if ref.b64 is not None:
            return decoded(ref.b64)
        if ref.url is None:
            raise DownloadError(f"image {ref.index} has neither a URL nor inline data")
        return self.fetch(ref)

    async def aclose(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release connections."""

    def keep_queue(self, book: QueueBook) -> None:  # noqa: B027 - only queued providers use it
        """A provider whose requests are queued (and billed later) notes each in `book`."""


@asynccontextmanager
async def decoded(data: str) -> AsyncIterator[Download]:
    """Decode base64 slice by slice, so the decoded image is never held whole beside its text."""
    text = data.strip()
    padded = len(text) - len(text.rstrip("="))
    expected = len(text) * 3 // 4 - padded

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(text), B64_CHUNK_CHARS):
            piece = text[start : start + B64_CHUNK_CHARS]
            try:
                yield base64.b64decode(piece, validate=True)
            except (binascii.Error, ValueError) as exc:
                message = f"inline image is not valid base64: {exc}"
                raise DownloadError(message, retryable=False) from exc

    yield Download(chunks(), expected_bytes=expected if len(text) % 4 == 0 else None)
