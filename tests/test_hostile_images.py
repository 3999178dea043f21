"""Images that end well but are not whole are never recorded as done."""

from __future__ import annotations

import io
import os
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from PIL import Image

from batchgen.errors import DownloadError
from batchgen.store.sink import Sink
from tests.helpers import png_chunk

pytestmark = pytest.mark.anyio


def png(noise: bool = True) -> bytes:
    size = (256, 256)
    image = (
        Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
        if noise
        else Image.new("RGB", size, (1, 2, 3))
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def cut_idat(data: bytes, keep: float = 0.5) -> bytes:
    """The same PNG with its IDAT data cut, re-chunked with a valid CRC, still ending in IEND."""
    at = data.index(b"IDAT") - 4
    length = struct.unpack(">I", data[at : at + 4])[0]
    body = data[at + 8 : at + 8 + length]
    return data[:at] + png_chunk(b"IDAT", body[: int(length * keep)]) + data[at + 12 + length :]


def flipped(data: bytes) -> bytes:
    at = data.index(b"IDAT") + 40
    return data[:at] + bytes([data[at] ^ 0x55]) + data[at + 1 :]


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 1000):
        yield data[start : start + 1000]


async def stage(sink: Sink, data: bytes) -> None:
    staged = await sink.stage(
        chunks(data), part_name="t-0", path_for=lambda ext: f"images/x.{ext}", index=0
    )
    sink.place(staged)


@pytest.mark.parametrize(
    ("damage", "noise", "message"),
    [
        (cut_idat, False, "cut short"),
        (lambda d: cut_idat(d, 0.99), False, "cut short"),
        (cut_idat, True, "damaged"),
        (flipped, True, "CRC"),
    ],
)
async def test_a_png_cut_inside_its_data_is_not_done(
    tmp_path: Path, damage: Callable[[bytes], bytes], noise: bool, message: str
) -> None:
    bad = damage(png(noise))
    assert bad.endswith(b"IEND\xaeB`\x82")
    with pytest.raises(Exception, match="truncated|broken|damaged|error"):
        Image.open(io.BytesIO(bad)).load()  # Pillow agrees the file is not whole
    sink = Sink(tmp_path)
    sink.prepare()
    with pytest.raises(DownloadError, match=message):
        await stage(sink, bad)
    assert not (tmp_path / "images" / "x.png").exists()


@pytest.mark.parametrize("noise", [True, False])
async def test_a_whole_png_passes(tmp_path: Path, noise: bool) -> None:
    sink = Sink(tmp_path)
    sink.prepare()
    await stage(sink, png(noise))
    assert (tmp_path / "images" / "x.png").stat().st_size > 0
