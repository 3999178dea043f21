"""Real PNG files of a chosen byte size, encoded with zlib, plus the stateless file tokens.

A base picture is encoded once per (width, height, target size) and cached; each served file is
its own caption band (the prompt's first words, aspect ratio, seed, index: drawing.py) in front
of that shared base, and a small tEXt chunk naming its request. The band is deflated on its own
and ends byte-aligned, the base was deflated with no history, so one zlib stream is the band's
IDAT, the shared IDAT and a 4-byte IDAT of the combined Adler-32: nothing big is re-encoded or
re-checksummed per file.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import random
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

from batchgen.emulator import drawing

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_KEYWORD = b"batchgen-emulator"
MIN_TARGET_BYTES = 30_000
MAX_TARGET_BYTES = 3_000_000
SERVE_CHUNK_BYTES = 64 * 1024
_ZLIB_LEVEL = 1  # random rows do not compress anyway; level 1 keeps the one-off encode fast
_BASE_CACHE_SIZE = 16
_CORRECTION_PASSES = 3
_GRAIN_HEADROOM = 1.2  # leave room to correct upwards: the sampled row cost is an estimate

_ZLIB_HEADER = b"\x78\x01"  # deflate, 32 KB window, fastest level (a valid FCHECK)
_RAW_DEFLATE = -15  # zlib's wbits for a bare deflate stream: headers are written here
_ADLER_BASE = 65521
_STRIP_CACHE_SIZE = 256  # ~5-40 KB each: the prompts of the tasks in flight, the facts lines
_SAMPLE_CAPTION = ("A sample prompt of typical length for the caption", "16:9  seed 1  index 0")


@dataclass(frozen=True, slots=True)
class Base:
    """The shared part of every file of one size: its IDAT chunk, and what the checksum of the
    whole stream needs of it."""

    idat: bytes  # a whole IDAT chunk: the scene below the band, deflated with no history
    adler: int  # Adler-32 of its uncompressed scanlines
    raw_len: int


@dataclass(frozen=True, slots=True)
class Strip:
    """One line of a caption band, deflated, with its scanlines' Adler-32 and length."""

    deflated: bytes
    adler: int
    raw_len: int


# (width, height, caption text, line) -> its strip
_strips: dict[tuple[int, int, str, int], Strip] = {}
# (width, height, target bytes) -> encoded base; few entries of ~1.5 MB each.
_bases: dict[tuple[int, int, int], Base] = {}
_cache_lock = threading.Lock()
_K = TypeVar("_K")
_V = TypeVar("_V")

_TOKEN_RE = re.compile(
    r"(\d{3,4})x(\d{3,4})-(\d{4,8})-([0-9a-f]{32})-(\d)-([0-9a-f]{8})"
    r"(?:-(\d{1,10}|n)-([A-Za-z0-9_-]{0,400}))?"
)


@dataclass(frozen=True, slots=True)
class ImageToken:
    """All that is needed to rebuild one file; it travels in the URL, so serving is stateless."""

    width: int
    height: int
    target_bytes: int
    request_id: str  # 32 hex digits
    index: int
    prompt_hash: str  # 8 hex digits
    seed: int | None = None
    caption: str = ""  # the prompt's first words, drawn into the picture

    def encode(self) -> str:
        """The URL-safe token text."""
        caption = base64.urlsafe_b64encode(self.caption.encode()).decode().rstrip("=")
        return (
            f"{self.width}x{self.height}-{self.target_bytes}-{self.request_id}"
            f"-{self.index}-{self.prompt_hash}-{'n' if self.seed is None else self.seed}-{caption}"
        )

    def caption_lines(self) -> tuple[str, str]:
        seed = "no seed" if self.seed is None else f"seed {self.seed}"
        facts = f"{drawing.aspect_label(self.width, self.height)}  {seed}  index {self.index}"
        return self.caption, facts


def decode_token(text: str, allowed_sizes: frozenset[tuple[int, int]]) -> ImageToken | None:
    """Parse a token; None when it is malformed or asks for a size the server never makes."""
    match = _TOKEN_RE.fullmatch(text)
    if match is None:
        return None
    width, height, target = int(match[1]), int(match[2]), int(match[3])
    if (width, height) not in allowed_sizes:
        return None
    if not MIN_TARGET_BYTES <= target <= MAX_TARGET_BYTES:
        return None
    seed = None if match[7] in (None, "n") else int(match[7])
    try:
        caption = base64.urlsafe_b64decode(_padded(match[8] or "")).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return ImageToken(width, height, target, match[4], int(match[5]), match[6], seed, caption)


def _padded(text: str) -> str:
    return text + "=" * (-len(text) % 4)


def make_tokens(
    size: tuple[int, int], target: int, request_id: str, prompt: str, count: int, seed: int | None
) -> list[ImageToken]:
    """The tokens of one answer's `count` images (the caption: the prompt's first words)."""
    width, height = size
    digest, caption = prompt_hash(prompt), drawing.first_words(prompt)
    return [
        ImageToken(width, height, target, request_id, i, digest, seed, caption)
        for i in range(count)
    ]


def prompt_hash(prompt: str) -> str:
    """A short, stable fingerprint of the prompt for the tEXt chunk."""
    return f"{zlib.crc32(prompt.encode('utf-8')):08x}"


@dataclass(frozen=True, slots=True)
class PngFile:
    """One file: its own head (signature, IHDR, the caption band's IDAT), the shared base IDAT,
    and its own tail (the checksum's IDAT, tEXt, IEND)."""

    head: bytes
    body: bytes
    tail: bytes

    @property
    def size(self) -> int:
        return len(self.head) + len(self.body) + len(self.tail)

    def chunks(self, chunk_bytes: int = SERVE_CHUNK_BYTES) -> Iterator[bytes | memoryview]:
        """The file in slices for streaming, without copying the shared base."""
        yield self.head
        view = memoryview(self.body)
        for start in range(0, len(view), chunk_bytes):
            yield view[start : start + chunk_bytes]
        yield self.tail

    def to_bytes(self) -> bytes:
        return self.head + self.body + self.tail


async def load_png(token: ImageToken) -> PngFile:
    """render_png, moved off the event loop when it has drawing or encoding to do (a size's
    first base takes ~0.1 s, a new caption ~1 ms): the loop keeps its timing for the tests
    that watch request starts."""
    ready = is_cached(token.width, token.height, token.target_bytes) and all(
        _strip_key(token, line, text) in _strips for line, text in enumerate(token.caption_lines())
    )
    if ready:
        return render_png(token)
    return await asyncio.to_thread(render_png, token)


def render_png(token: ImageToken) -> PngFile:
    """The file a token names: its caption band, the cached base, a tEXt naming the request."""
    width, height = token.width, token.height
    base = base_png(width, height, token.target_bytes)
    top, bottom = (
        _strip(width, height, text, line) for line, text in enumerate(token.caption_lines())
    )
    deflated = top.deflated + bottom.deflated
    adler = adler32_combine(top.adler, bottom.adler, bottom.raw_len)
    adler = adler32_combine(adler, base.adler, base.raw_len)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    head = PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", _ZLIB_HEADER + deflated)
    text = b"request=%s index=%d prompt=%s" % (
        token.request_id.encode("ascii"),
        token.index,
        token.prompt_hash.encode("ascii"),
    )
    tail = (
        _chunk(b"IDAT", struct.pack(">I", adler))
        + _chunk(b"tEXt", TEXT_KEYWORD + b"\x00" + text)
        + _chunk(b"IEND", b"")
    )
    return PngFile(head, base.idat, tail)


def _strip_key(token: ImageToken, line: int, text: str) -> tuple[int, int, str, int]:
    return token.width, token.height, text, line


def _strip(width: int, height: int, text: str, line: int) -> Strip:
    """One caption line's strip, deflated bare and ending byte-aligned (a sync flush), so strips
    and the base follow each other in one stream; cached, as a task's images share theirs."""
    key = (width, height, text, line)
    found = _strips.get(key)
    if found is None:
        raw = drawing.strip_rows(width, height, text, line)
        compressor = zlib.compressobj(_ZLIB_LEVEL, zlib.DEFLATED, _RAW_DEFLATE)
        deflated = compressor.compress(raw) + compressor.flush(zlib.Z_SYNC_FLUSH)
        found = Strip(deflated, zlib.adler32(raw), len(raw))
        _keep(_strips, key, found, _STRIP_CACHE_SIZE)
    return found


def adler32_combine(first: int, second: int, second_len: int) -> int:
    """Adler-32 of A+B from those of A and B and B's length (zlib's adler32_combine)."""
    rem = second_len % _ADLER_BASE
    sum1 = first & 0xFFFF
    sum2 = (rem * sum1) % _ADLER_BASE
    sum1 = (sum1 + (second & 0xFFFF) + _ADLER_BASE - 1) % _ADLER_BASE
    sum2 = (sum2 + (first >> 16) + (second >> 16) + _ADLER_BASE - rem) % _ADLER_BASE
    return sum1 | (sum2 << 16)


def is_cached(width: int, height: int, target_bytes: int) -> bool:
    """Whether base_png would answer at once (callers move a cold encode off the event loop)."""
    return (width, height, target_bytes) in _bases


def base_png(width: int, height: int, target_bytes: int) -> Base:
    """The shared scene below the caption band, deflated to make files close to target_bytes."""
    key = (width, height, target_bytes)
    cached = _bases.get(key)
    if cached is None:
        cached = _encode_base(width, height, target_bytes)
        _keep(_bases, key, cached, _BASE_CACHE_SIZE)
    return cached


def _keep(cache: dict[_K, _V], key: _K, value: _V, most: int) -> None:
    """Cache a value, dropping the oldest past `most` (dicts keep insertion order). Under a
    lock: load_png renders in worker threads, and an eviction racing an insert raised
    "dictionary changed size during iteration" mid-answer, cutting a served file short."""
    with _cache_lock:
        cache[key] = value
        while len(cache) > most:
            cache.pop(next(iter(cache)))


def _encode_base(width: int, height: int, target_bytes: int) -> Base:
    band_h = drawing.band_height(width, height)
    rows = _draw_scene(width, height)[band_h:]
    # what a file spends besides the base: a typical caption band, and the chunks' framing
    band = b"".join(
        drawing.strip_rows(width, height, text, line) for line, text in enumerate(_SAMPLE_CAPTION)
    )
    target_bytes -= len(zlib.compress(band, _ZLIB_LEVEL)) + 200
    rng = random.Random(f"{width}x{height}-{target_bytes}")
    clean = len(zlib.compress(_raw_image(rows), _ZLIB_LEVEL))
    bits, row_cost = _choose_grain(rows, target_bytes - clean, rng)
    fraction = _clamp01((target_bytes - clean) / (row_cost * len(rows)))
    data, raw = _compress_with_grain(rows, fraction, bits, rng)
    # Correction passes: the sampled per-row cost is only an estimate of the whole picture's.
    for _ in range(_CORRECTION_PASSES):
        if fraction >= 1.0 or abs(len(data) - target_bytes) <= 0.03 * target_bytes:
            break
        fraction = _clamp01(fraction * (target_bytes - clean) / max(len(data) - clean, 1))
        data, raw = _compress_with_grain(rows, fraction, bits, rng)
    return Base(_chunk(b"IDAT", data), zlib.adler32(raw), len(raw))


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(kind))
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _clamp01(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def _raw_image(rows: list[bytes]) -> bytes:
    # Filter type 0 (None) on every row: the flat scene compresses well without prediction.
    return b"".join(b"\x00" + row for row in rows)


def _choose_grain(rows: list[bytes], budget: int, rng: random.Random) -> tuple[int, float]:
    """Fewest grain bits per channel whose rows, all grainy, would pass the byte budget."""
    sample = rows[:: max(len(rows) // 16, 1)]
    cost = 0.0
    for bits in range(3, 9):
        grainy = [_grain(row, bits, rng) for row in sample]
        cost = len(zlib.compress(_raw_image(grainy), _ZLIB_LEVEL)) / len(sample)
        if cost * len(rows) >= budget * _GRAIN_HEADROOM:
            return bits, cost
    return 8, cost


def _compress_with_grain(
    rows: list[bytes], fraction: float, bits: int, rng: random.Random
) -> tuple[bytes, bytes]:
    """Deflate the scene (bare, no history) with grain on an evenly spread fraction of the
    rows; returns it and the scanlines it holds (for their checksum)."""
    state = rng.getstate()  # the same grain on a second pass keeps the result repeatable
    lines = [
        b"\x00" + (_grain(row, bits, rng) if _grainy(y, fraction) else row)
        for y, row in enumerate(rows)
    ]
    rng.setstate(state)
    raw = b"".join(lines)
    compressor = zlib.compressobj(_ZLIB_LEVEL, zlib.DEFLATED, _RAW_DEFLATE)
    return compressor.compress(raw) + compressor.flush(), raw


def _grainy(y: int, fraction: float) -> bool:
    return math.floor((y + 1) * fraction) > math.floor(y * fraction)


def _grain(row: bytes, bits: int, rng: random.Random) -> bytes:
    """Randomise the low bits of every byte: film grain that keeps the picture visible."""
    mask = int.from_bytes(bytes([(1 << bits) - 1]) * len(row), "big")
    noise = int.from_bytes(rng.randbytes(len(row)), "big") & mask
    return (int.from_bytes(row, "big") ^ noise).to_bytes(len(row), "big")


def _draw_scene(width: int, height: int) -> list[bytes]:
    """A landscape: sky gradient, a sun, three hills, a lake; spans per row keep it fast."""
    scale = min(width, height)
    horizon = int(height * 0.62)
    discs = [  # (centre x, centre y, radius, colour at top, colour at bottom)
        (0.72 * width, 0.34 * height, 0.09 * scale, (255, 226, 150), (255, 200, 120)),
        (0.15 * width, horizon + 0.55 * scale, 0.75 * scale, (70, 120, 80), (40, 80, 50)),
        (0.85 * width, horizon + 0.65 * scale, 0.80 * scale, (90, 140, 90), (50, 95, 60)),
        (0.50 * width, horizon + 0.95 * scale, 0.90 * scale, (110, 160, 95), (60, 110, 60)),
    ]
    rows = []
    for y in range(height):
        t = y / max(height - 1, 1)
        if y < horizon:
            row = bytearray(_mix((40, 90, 170), (250, 190, 150), y / horizon) * width)
        else:
            row = bytearray(_mix((60, 110, 160), (20, 50, 90), t) * width)
        for cx, cy, radius, top, bottom in discs:
            _fill_span(row, width, y, cx, cy, radius, _mix(top, bottom, t))
        rows.append(bytes(row))
    return rows


def _fill_span(
    row: bytearray, width: int, y: int, cx: float, cy: float, radius: float, colour: bytes
) -> None:
    dy = y - cy
    if abs(dy) >= radius:
        return
    half = math.sqrt(radius * radius - dy * dy)
    x0, x1 = max(int(cx - half), 0), min(int(cx + half), width)
    if x1 > x0:
        row[3 * x0 : 3 * x1] = colour * (x1 - x0)


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> bytes:
    return bytes(round(p + (q - p) * t) for p, q in zip(a, b, strict=True))
