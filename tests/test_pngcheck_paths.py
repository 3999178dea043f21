"""The PNG whole-check's two inflates, held-and-whole (libdeflate) and streamed (zlib), give the
same verdict and the same words on whole and damaged files; Pillow (an outside decoder) loads
the whole ones and refuses the badly cut ones."""

from __future__ import annotations

import io
import os
import random
import struct
import tracemalloc
import zlib
from collections.abc import Callable

import pytest
from PIL import Image

from batchgen.store import pngcheck
from tests.helpers import png_chunk

deflate = pytest.importorskip("deflate")


def _pillow_png(mode: str, size: tuple[int, int], noise: bool) -> bytes:
    raw_len = len(Image.new(mode, size).tobytes())
    image = Image.frombytes(mode, size, os.urandom(raw_len)) if noise else Image.new(mode, size)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _parts(data: bytes) -> tuple[bytes, bytes]:
    """IHDR's 13 bytes and the IDAT stream, joined from every IDAT chunk."""
    pos, ihdr, idat = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        ihdr = body if kind == b"IHDR" else ihdr
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    return ihdr, idat


def _build(ihdr: bytes, idat: bytes, *, split: int = 8192) -> bytes:
    """A PNG with every CRC good: IHDR, `idat` in chunks of `split` bytes, IEND."""
    pieces = [png_chunk(b"IDAT", idat[at : at + split]) for at in range(0, len(idat), split)]
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + b"".join(pieces) + png_chunk(b"IEND", b"")
    )


def _verdict(data: bytes, piece: int) -> str | None:
    check = pngcheck.PngCheck()
    for at in range(0, len(data), piece):  # in pieces, as a download arrives
        check.feed(data[at : at + piece])
    return check.problem()


def _both(data: bytes, monkeypatch: pytest.MonkeyPatch, piece: int = 4099) -> str | None:
    """The verdict of each path; they must agree, word for word."""
    whole = _verdict(data, piece)
    with monkeypatch.context() as patch:
        patch.setattr(pngcheck, "deflate", None)
        streamed = _verdict(data, piece)
    assert whole == streamed
    return whole


def _pillow_loads(data: bytes) -> bool:
    try:
        Image.open(io.BytesIO(data)).load()
    except Exception:  # noqa: BLE001 - any failure to decode is the answer
        return False
    return True


MODES = [("RGB", True), ("RGB", False), ("RGBA", True), ("L", True), ("P", False), ("1", True)]
MODES += [("I;16", True)]


@pytest.mark.parametrize(("mode", "noise"), MODES)
def test_whole_pngs_pass_on_both_paths_and_the_held_one_inflates_once(
    mode: str, noise: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _pillow_png(mode, (300, 200), noise)
    assert _pillow_loads(data)
    calls: list[int] = []
    real = deflate.zlib_decompress

    def spy(stream: bytes, size: int) -> bytearray:
        calls.append(size)
        return bytearray(real(stream, size))

    monkeypatch.setattr(deflate, "zlib_decompress", spy)
    assert _both(data, monkeypatch) is None
    ihdr, _ = _parts(data)
    assert calls == [pngcheck.raw_size(ihdr)]  # one call, at exactly IHDR's size


def _cut(keep: float) -> Callable[[bytes, bytes], bytes]:
    return lambda ihdr, idat: _build(ihdr, idat[: int(len(idat) * keep)])


def _flip(at: float) -> Callable[[bytes, bytes], bytes]:
    def damage(ihdr: bytes, idat: bytes) -> bytes:
        pos = int(len(idat) * at)
        return _build(ihdr, idat[:pos] + bytes([idat[pos] ^ 0x10]) + idat[pos + 1 :])

    return damage


def _rows(delta: int) -> Callable[[bytes, bytes], bytes]:
    """The stream of an image `delta` rows taller (or shorter) than IHDR says."""

    def damage(ihdr: bytes, idat: bytes) -> bytes:
        raw = zlib.decompress(idat)
        row = len(raw) // struct.unpack(">I", ihdr[4:8])[0]
        raw = raw + raw[-row:] * delta if delta > 0 else raw[: len(raw) + row * delta]
        return _build(ihdr, zlib.compress(raw))

    return damage


def _trailing(ihdr: bytes, idat: bytes) -> bytes:
    return _build(ihdr, idat + b"trailing bytes after the stream's end")


def _adler(ihdr: bytes, idat: bytes) -> bytes:
    return _build(ihdr, idat[:-4] + bytes(4))


DAMAGES = {
    "cut 10%": _cut(0.1),
    "cut 50%": _cut(0.5),
    "cut 99.9%": _cut(0.999),
    "cut before the Adler-32": _cut(1.0 - 2 / 10_000),
    "a bit flipped early": _flip(0.05),
    "a bit flipped late": _flip(0.95),
    "one row short": _rows(-1),
    "one row too many": _rows(1),
    "a bad Adler-32": _adler,
}


@pytest.mark.parametrize("damage", list(DAMAGES))
@pytest.mark.parametrize(("mode", "noise"), [("RGB", True), ("RGB", False), ("L", True)])
def test_damaged_pngs_fail_on_both_paths_with_the_same_words(
    damage: str, mode: str, noise: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    ihdr, idat = _parts(_pillow_png(mode, (256, 160), noise))
    bad = DAMAGES[damage](ihdr, idat)
    problem = _both(bad, monkeypatch)
    assert problem is not None and "image data" in problem
    if damage in ("cut 10%", "cut 50%"):
        assert not _pillow_loads(bad)  # Pillow agrees; the rest it lets through (it stops at
        # the last row it needs and never reads the Adler-32), which is why batchgen checks


def test_bytes_after_the_stream_end_are_judged_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    ihdr, idat = _parts(_pillow_png("RGB", (64, 64), True))
    assert _both(_trailing(ihdr, idat), monkeypatch) is None  # as zlib has always taken it


def test_a_bomb_inside_idat_stops_at_its_size_on_both_paths(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)  # 12,352 raw bytes promised
    bomb = zlib.compress(bytes(200 * 1024 * 1024), 9)  # 200 MiB of zeros in ~200 KB
    problem = _both(_build(ihdr, bomb, split=65536), monkeypatch, piece=256 * 1024)
    assert problem == "the PNG's image data is longer than its size says"


def test_large_and_interlaced_images_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _pillow_png("RGB", (300, 200), True)
    ihdr, idat = _parts(data)
    called: list[int] = []
    monkeypatch.setattr(deflate, "zlib_decompress", lambda d, n: called.append(n))
    monkeypatch.setattr(pngcheck, "WHOLE_MAX", 100_000)  # the image is 180,200 raw bytes
    assert _verdict(data, 4099) is None
    assert _verdict(_cut(0.5)(ihdr, idat), 4099) == "the PNG's image data (IDAT) is cut short"
    monkeypatch.setattr(pngcheck, "WHOLE_MAX", 1 << 30)
    monkeypatch.setattr(pngcheck, "HELD_MAX", len(idat) // 3)  # held until then, then streamed
    assert _verdict(data, 4099) is None
    assert _verdict(_flip(0.9)(ihdr, idat), 4099) is not None
    interlaced = ihdr[:12] + b"\x01"  # Adam7: no single size to inflate to
    monkeypatch.setattr(pngcheck, "HELD_MAX", 1 << 30)
    assert _verdict(_build(interlaced, idat), 4099) is None  # streamed: its end is checked
    assert called == []


def test_random_damage_is_judged_alike_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(18)
    refused = 0
    for noise in (True, False):
        ihdr, idat = _parts(_pillow_png("RGB", (96, 64), noise))
        for _ in range(150):
            at = rng.randrange(len(idat))
            if rng.random() < 0.5:  # a byte changed, every CRC made good again
                bad = idat[:at] + bytes([idat[at] ^ rng.randrange(1, 256)]) + idat[at + 1 :]
            else:  # cut, or cut and a stranger's bytes after
                bad = idat[:at] + (rng.randbytes(rng.randrange(8)) if rng.random() < 0.5 else b"")
            refused += (
                _both(_build(ihdr, bad, split=rng.choice((64, 1000, 1 << 20))), monkeypatch)
                is not None
            )
    assert refused >= 290, refused  # 299 of 300 here: one damage may leave a valid stream


def test_a_buffer_changed_after_it_was_fed_does_not_change_the_verdict() -> None:
    """IDAT is held as views of what was fed until IEND: a caller's bytearray, reused for the
    next piece as a reader may do, must not change what is inflated."""
    data = _pillow_png("RGB", (64, 48), noise=True)
    check = pngcheck.PngCheck()
    buffer = bytearray()
    for at in range(0, len(data), 1000):
        buffer[:] = data[at : at + 1000]
        check.feed(buffer)
        buffer[:] = b"\0" * len(buffer)  # the same buffer, overwritten
    assert check.problem() is None


def test_tiny_idat_chunks_among_large_ones_do_not_pin_the_whole_download() -> None:
    """IDAT is held as views of the pieces fed; a hostile PNG that puts a few IDAT bytes in
    every piece, between large ancillary chunks, must not keep every piece alive: what the
    views pin counts against HELD_MAX, past which the check streams and lets go."""
    ihdr, idat = _parts(_pillow_png("RGB", (64, 64), noise=True))
    piece = 256 * 1024
    filler = png_chunk(b"tEXt", b"c\0" + b"x" * (piece - 64))  # an ancillary chunk: ignored
    parts = [png_chunk(b"IDAT", idat[at : at + 16]) + filler for at in range(0, len(idat), 16)]
    body = b"".join(parts[:160])  # 160 pieces of ~256 KiB: 40 MiB, 2.5 KB of it IDAT
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + body + png_chunk(b"IEND", b"")
    check = pngcheck.PngCheck()
    tracemalloc.start()
    try:
        for at in range(0, len(data), piece):
            check.feed(data[at : at + piece])  # a fresh bytes object a piece, as downloads are
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < pngcheck.HELD_MAX + 4 * piece, peak
    assert check.problem() == "the PNG's image data (IDAT) is cut short"


def test_a_png_of_one_byte_idat_chunks_is_held_within_bounds_and_judged_whole() -> None:
    """Each IDAT chunk held is a view object of its own (~200 bytes): a PNG cut into one-byte
    IDAT chunks must not turn a 2.5 MB download into ~40 MB of them; they count too."""
    ihdr, idat = _parts(_pillow_png("RGB", (256, 256), noise=True))
    data = _build(ihdr, idat, split=1)
    piece = 256 * 1024
    check = pngcheck.PngCheck()
    tracemalloc.start()
    try:
        for at in range(0, len(data), piece):
            check.feed(data[at : at + piece])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < pngcheck.HELD_MAX + 4 * piece, peak
    assert check.problem() is None
