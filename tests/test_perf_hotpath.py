"""The cheaper hot path keeps its promises: a free slot is taken at once but never ahead of a
task already waiting, a cancelled waiter gives its turn away, and the PNG whole-check (now on
zlib-ng's inflate) still tells whole from cut."""

from __future__ import annotations

import struct
import zlib

import anyio
import pytest

from batchgen.run.limits import Limiter
from batchgen.store.pngcheck import PngCheck
from tests.helpers import png_chunk

pytestmark = pytest.mark.anyio


async def test_a_free_slot_is_never_taken_ahead_of_a_waiting_task() -> None:
    limiter = Limiter(concurrency=1)
    order: list[str] = []
    held, release = anyio.Event(), anyio.Event()

    async def holder() -> None:
        async with limiter.slot():
            held.set()
            await release.wait()

    async def taker(name: str) -> None:
        async with limiter.slot():
            order.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(holder)
        await held.wait()
        tg.start_soon(taker, "waiting first")
        await anyio.wait_all_tasks_blocked()
        release.set()  # the holder frees its slot; a newcomer arrives at the same moment
        tg.start_soon(taker, "came later")
    assert order == ["waiting first", "came later"]
    stats = limiter.statistics()
    assert (stats.started, stats.in_flight, stats.max_in_flight) == (3, 0, 1)


async def test_a_cancelled_waiter_frees_its_turn_and_the_slot_comes_back() -> None:
    limiter = Limiter(concurrency=1)
    got: list[str] = []

    async def holder(release: anyio.Event) -> None:
        async with limiter.slot():
            await release.wait()

    release = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(holder, release)
        await anyio.wait_all_tasks_blocked()
        with anyio.move_on_after(0.01):  # gives up waiting
            async with limiter.slot():
                got.append("cancelled one")
        release.set()
    async with limiter.slot():  # free again: taken at once
        got.append("after")
    assert got == ["after"]
    assert limiter.statistics().in_flight == 0


def _png(idat: bytes, *, rows: int = 64, width: int = 64) -> bytes:
    """An RGB PNG around `idat`, every chunk's CRC good."""
    ihdr = struct.pack(">IIBBBBB", width, rows, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def _checked(data: bytes, piece: int = 97) -> str | None:
    check = PngCheck()
    for start in range(0, len(data), piece):  # fed in odd pieces, as a download arrives
        check.feed(data[start : start + piece])
    return check.problem()


def test_the_whole_check_passes_a_whole_png_and_catches_a_rechunked_cut() -> None:
    raw = b"".join(b"\x00" + bytes((x * 7 + y) % 256 for x in range(192)) for y in range(64))
    stream = zlib.compress(raw, 9)
    assert _checked(_png(stream)) is None
    cut = _checked(_png(stream[: len(stream) // 2]))  # cut, then re-chunked with good CRCs
    assert cut is not None and "image data" in cut
    few_rows = _checked(_png(zlib.compress(raw[:193], 9)))  # whole stream, too few rows
    assert few_rows is not None and "image data" in few_rows
