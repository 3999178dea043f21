"""Streaming, verified, atomic writes of image bytes: chunks -> .part -> check -> rename."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import anyio

from batchgen.errors import DownloadError, SinkError
from batchgen.models import SavedImage
from batchgen.store import imageinfo
from batchgen.store.pngcheck import PngCheck

IMAGES_DIR = "images"
STAGING = ".parts"  # the ledger of folders holding parts (and parts of older versions)
LEDGER = "folders"
WRITE_BUFFER = 256 * 1024  # coalesce network chunks into fewer thread hops and writes
TAIL_BYTES = 16
FOLDERS_KEPT = 10_000
# Threads checking and writing pieces at once: more than the cores only holds more pieces
# (up to ~2 MB each with the inflate's step) in memory; waiting for one is the backpressure.
CHECK_THREADS = 4


@dataclass(frozen=True, slots=True)
class Staged:
    """A whole, checked image waiting in the staging folder for its final name."""

    part: Path
    image: SavedImage


class Sink:
    """Writes images under `root`; a file appears at its final path only when it is whole."""

    def __init__(self, root: Path, *, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.root = root
        self.staging = root / STAGING
        self.max_bytes = max_bytes
        self._folders: set[Path] = set()  # made already; a mkdir per image cost ~40 us
        self._threads: anyio.CapacityLimiter | None = None  # made in the event loop, when used

    def __repr__(self) -> str:
        return f"Sink(root={str(self.root)!r})"

    def prepare(self) -> None:
        """Create the folders and drop what an interrupted run left half-written: the parts in
        every folder the ledger names (parts sit beside their final names), then the ledger."""
        try:
            for folder in self._ledger_folders():
                for part in folder.glob(".*.part"):
                    part.unlink(missing_ok=True)
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"cannot write to {self.root}: {exc.strerror}") from exc

    def _ledger_folders(self) -> set[Path]:
        try:
            lines = (self.staging / LEDGER).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return set()
        return {self.root / line for line in lines if line and not line.startswith("/")}

    async def stage(
        self,
        chunks: AsyncIterable[bytes],
        *,
        part_name: str,
        path_for: Callable[[str], str],
        index: int,
        expected_bytes: int | None = None,
    ) -> Staged:
        """Stream `chunks` into the staging folder and check them; `path_for(ext)` names the
        final file once the format is seen. Nothing is at the final path until `place`."""
        # Staged beside its final name, so the final rename never crosses filesystems (images/
        # may be a mount or a link to another disk); the folder is known before the format.
        try:
            folder = self._stage_folder((self.root / path_for("part")).parent)
        except OSError as exc:
            raise _sink_error(exc, self.root) from exc
        part = folder / f".{part_name}.part"
        try:
            head, tail, size, digest, png = await self._stream(chunks, part)
            info = self._verify(head, tail, size, expected_bytes)
            if info.mime_type == "image/png" and (problem := png.problem()) is not None:
                raise DownloadError(f"image/png is damaged ({size} bytes): {problem}")
        except BaseException as exc:  # a cut, a bad image, a cancel: no half file stays
            part.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise _sink_error(exc, self.root) from exc
            raise
        image = SavedImage(
            index=index,
            path=path_for(info.ext),
            bytes=size,
            width=info.width,
            height=info.height,
            mime_type=info.mime_type,
            sha256=digest,
        )
        return Staged(part, image)

    def place(self, staged: Staged) -> SavedImage:
        """Move a checked file to its final path in one atomic rename."""
        final = self.root / staged.image.path
        try:
            if final.parent != staged.part.parent:  # {ext} in a folder name: rare
                self._stage_folder(final.parent)
            _rename_within(staged.part, final)
        except OSError as exc:
            staged.part.unlink(missing_ok=True)
            raise _sink_error(exc, self.root) from exc
        return staged.image

    async def put(self, staged: Staged, *, thumb: str | None = None) -> SavedImage:
        """Make a checked file appear at its final place (here: `place`; a bucket uploads, and
        makes the gallery's thumbnail `thumb` from the bytes in hand: the report cannot)."""
        return self.place(staged)

    async def has(self, path: str) -> bool:
        """Whether the file at `path` (relative to the root) is there."""
        return (self.root / path).exists()

    def _stage_folder(self, folder: Path) -> Path:
        """Make `folder` and note it in the ledger (flushed before any part is written there),
        so the next run finds every part a kill could leave behind."""
        if folder not in self._folders:
            folder.mkdir(parents=True, exist_ok=True)
            self.staging.mkdir(exist_ok=True)
            with open(self.staging / LEDGER, "a", encoding="utf-8") as ledger:
                ledger.write(f"{folder.relative_to(self.root).as_posix()}\n")
            if len(self._folders) > FOLDERS_KEPT:  # bounded: templates may make many folders
                self._folders.clear()
            self._folders.add(folder)
        return folder

    def discard(self, staged: Staged) -> None:
        staged.part.unlink(missing_ok=True)

    async def _stream(
        self, chunks: AsyncIterable[bytes], part: Path
    ) -> tuple[bytes, bytes, int, str, PngCheck]:
        head = bytearray()
        tail = b""
        size = 0
        pending: list[bytes] = []
        pending_bytes = 0
        if self._threads is None:
            self._threads = anyio.CapacityLimiter(CHECK_THREADS)
        piece = _Piece(part, self._threads)
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > self.max_bytes:
                    message = f"image is larger than {self.max_bytes} bytes"
                    raise DownloadError(message, retryable=False)
                if len(head) < imageinfo.HEAD_BYTES:
                    head += chunk[: imageinfo.HEAD_BYTES - len(head)]
                tail = (tail + chunk[-TAIL_BYTES:])[-TAIL_BYTES:]
                pending.append(chunk)
                pending_bytes += len(chunk)
                if pending_bytes >= WRITE_BUFFER:
                    await piece.absorb(b"".join(pending), is_png=_may_be_png(head))
                    pending, pending_bytes = [], 0
            if pending:
                await piece.absorb(b"".join(pending), is_png=_may_be_png(head))
        finally:
            piece.close()
        return bytes(head), tail, size, piece.hasher.hexdigest(), piece.png

    def _verify(
        self, head: bytes, tail: bytes, size: int, expected_bytes: int | None
    ) -> imageinfo.ImageInfo:
        if expected_bytes is not None and size != expected_bytes:
            raise DownloadError(f"image cut short: got {size} of {expected_bytes} bytes")
        kind = imageinfo.sniff_format(head)
        if kind is None:
            raise DownloadError(f"not an image (starts with {head[:16]!r})")
        mime_type, ext = kind
        if not imageinfo.is_complete(mime_type, tail):
            raise DownloadError(f"{mime_type} is cut short ({size} bytes, no end marker)")
        size_px = imageinfo.dimensions(mime_type, head, size)
        if size_px is None:
            raise DownloadError(f"{mime_type} header is unreadable ({size} bytes)")
        return imageinfo.ImageInfo(mime_type, ext, *size_px)


class _Piece:
    """The CPU-heavy part of saving an image, one piece (>= WRITE_BUFFER) at a time in a worker
    thread: the part file's creation, the sha256, the PNG whole-check and the write. Every PNG
    is inflated whole (~1 ms of CPU per 1K image, ~5 ms for a 1.5 MB one: its last bytes cannot
    tell a cut inside the image data); the inflate, hashlib, open and write release the GIL, so
    this runs on the second core (creating the file cost the loop thread ~0.4 ms an image in the
    kernel), each taking the GIL back from the busy loop once per call: so the inflate is one
    call at IEND (pngcheck). One thread hop per piece costs ~0.1 ms; a hop per network chunk
    (aiofiles) cost more than the download itself."""

    def __init__(self, part: Path, threads: anyio.CapacityLimiter) -> None:
        self.part = part
        self.out: BinaryIO | None = None  # created by the first piece, in its thread
        self.threads = threads
        self.hasher = hashlib.sha256()  # hashed as it streams: the file is never read back
        self.png = PngCheck()

    async def absorb(self, data: bytes, *, is_png: bool) -> None:
        await anyio.to_thread.run_sync(self._absorb, data, is_png, limiter=self.threads)

    def close(self) -> None:
        if self.out is not None:
            self.out.close()

    def _absorb(self, data: bytes, is_png: bool) -> None:
        if self.out is None:
            self.out = open(self.part, "wb")  # noqa: SIM115 - closed by close(), after the last piece
        self.hasher.update(data)
        if is_png:
            self.png.feed(data)
        self.out.write(data)


def _may_be_png(head: bytes | bytearray) -> bool:
    return len(head) < len(imageinfo.PNG_MAGIC) or head.startswith(imageinfo.PNG_MAGIC)


def _rename_within(part: Path, final: Path) -> None:
    """os.replace, and where the part is on another filesystem than its final folder, a copy
    into that folder first: the rename that makes the file appear is always a local one."""
    try:
        os.replace(part, final)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        local = final.with_name(f".{part.name.lstrip('.')}")
        try:
            shutil.copyfile(part, local)
            os.replace(local, final)
        finally:
            local.unlink(missing_ok=True)
            part.unlink(missing_ok=True)


def _sink_error(exc: OSError, root: Path) -> SinkError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return SinkError(f"disk full (or over quota) while writing under {root}")
    return SinkError(f"cannot write under {root}: {exc.strerror or exc}")
