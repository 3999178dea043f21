"""The PNG whole-check, sha256 and writes run off the event loop, and still refuse damage."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from batchgen.errors import DownloadError
from batchgen.models import SavedImage
from batchgen.store import pngcheck
from batchgen.store.sink import WRITE_BUFFER, Sink

pytestmark = pytest.mark.anyio


def big_png() -> bytes:
    """Noise compresses badly: ~3 MB, so it crosses several WRITE_BUFFER pieces."""
    out = io.BytesIO()
    Image.frombytes("RGB", (1024, 1024), os.urandom(1024 * 1024 * 3)).save(out, format="PNG")
    data = out.getvalue()
    assert len(data) > 4 * WRITE_BUFFER
    return data


def cut_idat_rechunked(data: bytes) -> bytes:
    """Each IDAT chunk after the first half dropped whole: every CRC checks, IEND is there."""
    at, kept, dropped = 8, [], 0
    idats = data.count(b"IDAT")
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        whole = data[at : at + 12 + length]
        if kind == b"IDAT":
            dropped += 1
            if dropped > idats // 2:
                at += 12 + length
                continue
        kept.append(whole)
        at += 12 + length
    return data[:8] + b"".join(kept)


async def pieces(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def save(sink: Sink, data: bytes) -> SavedImage:
    staged = await sink.stage(
        pieces(data), part_name="t-0", path_for=lambda ext: f"a/x.{ext}", index=0
    )
    return sink.place(staged)


async def test_a_big_png_is_checked_hashed_and_written_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: set[str] = set()
    feed = pngcheck.PngCheck.feed

    def spy(self: pngcheck.PngCheck, data: bytes) -> None:
        threads.add(threading.current_thread().name)
        feed(self, data)

    monkeypatch.setattr(pngcheck.PngCheck, "feed", spy)
    data = big_png()
    sink = Sink(tmp_path)
    sink.prepare()
    image = await save(sink, data)
    assert (tmp_path / "a" / "x.png").read_bytes() == data
    assert image.sha256 == hashlib.sha256(data).hexdigest()
    assert (image.width, image.height) == (1024, 1024)
    assert threads and threading.main_thread().name not in threads


async def test_a_big_png_missing_idat_chunks_is_refused_off_the_loop(tmp_path: Path) -> None:
    data = big_png()
    if data.count(b"IDAT") < 2:  # Pillow writes 64 KiB IDAT chunks; one would be a cut inside
        pytest.skip("one IDAT chunk")
    bad = cut_idat_rechunked(data)
    assert bad.endswith(b"IEND\xaeB`\x82") and len(bad) > 2 * WRITE_BUFFER
    sink = Sink(tmp_path)
    sink.prepare()
    with pytest.raises(DownloadError, match="cut short"):
        await save(sink, bad)
    assert not (tmp_path / "a" / "x.png").exists()
    assert not list((tmp_path / "a").glob(".*.part"))


async def test_a_flipped_bit_in_a_late_piece_is_refused(tmp_path: Path) -> None:
    data = bytearray(big_png())
    at = len(data) - WRITE_BUFFER // 2  # inside the last piece
    data[at] ^= 0x10
    sink = Sink(tmp_path)
    sink.prepare()
    with pytest.raises(DownloadError, match="CRC|inflate"):
        await save(sink, bytes(data))
