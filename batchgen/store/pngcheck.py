"""Check a PNG whole as it streams: every chunk's CRC, and the IDAT zlib stream inflated to its
end and to exactly the size IHDR promises. A file cut inside IDAT that still ends with IEND
(or with a bit flipped) is caught here; a check of the last bytes cannot see it (pure).

IDAT is held (as views of the pieces fed, no copy) and inflated in one call at IEND (libdeflate,
into a buffer of exactly IHDR's size) when the image is at most WHOLE_MAX raw bytes and the
pieces its IDAT lies in at most HELD_MAX. Larger, interlaced or odd images, and any image that
fails it, are inflated as they stream (zlib, in bounded steps), which also words what is wrong.
In a run, zlib's stepped inflate gave the GIL back and took it again ~6 times a step against
the busy event loop, and cost 2-3x its CPU alone (benchmarks/RESULTS.md, section 7)."""

from __future__ import annotations

import struct

try:  # the same inflate and Adler-32, twice as fast as zlib's (CPython's own zlib module, ported)
    from zlib_ng import zlib_ng as zlib
except ImportError:  # pragma: no cover - a platform without its wheel: the check is the same
    import zlib  # type: ignore[no-redef]

try:  # libdeflate: a whole stream in one call (the GIL given back once), Adler-32 checked,
    # never past the size given
    import deflate
except ImportError:  # pragma: no cover - a platform without its wheel: every image streams
    deflate = None  # type: ignore[assignment]

# zlib_ng's stub types `error` as an instance; it is the exception class, as in zlib
INFLATE_ERROR: type[Exception] = zlib.error  # type: ignore[assignment,unused-ignore]

CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by IHDR colour type
INFLATE_STEP = 256 * 1024  # inflated bytes per step: a bomb inside IDAT stays bounded; 1 MiB
# steps cost 2.4x the CPU (each step's output buffer is fresh pages from the kernel in a thread)
WHOLE_MAX = 32 * 1024 * 1024  # raw bytes the one-call inflate may make (a buffer per thread)
HELD_MAX = 8 * 1024 * 1024  # bytes a download may hold for it (a 1.5 MB Imagen PNG: all)
VIEW_BYTES = 256  # what a held view costs beside its piece (a PNG may cut IDAT into 1-byte chunks)


class PngCheck:
    """Feed the file's bytes in order with `feed`; `problem()` says what is wrong, or None."""

    def __init__(self) -> None:
        self._pending = b""  # bytes of a chunk header or CRC not complete yet
        self._skip = 8  # the signature, checked elsewhere
        self._left = 0  # data bytes left in the current chunk
        self._type = b""
        self._crc = 0
        self._ihdr = b""
        self._expected: int | None = None
        self._inflated = 0
        self._inflate = zlib.decompressobj()
        self._held: list[memoryview] | None = [] if deflate is not None else None  # None: streams
        self._held_bytes = 0  # of the pieces the views keep alive, whole: not only their IDAT
        self._uncounted = 0  # bytes of the piece being fed not yet counted in _held_bytes
        self._whole = False  # the held IDAT inflated whole, to exactly its size
        self._ended = False
        self._error: str | None = None

    def feed(self, data: bytes | bytearray) -> None:
        """The file's next bytes. IDAT is held as views of them until IEND: give bytes, which
        cannot change meanwhile (anything else is copied)."""
        view = memoryview(data if isinstance(data, bytes) else bytes(data))
        self._uncounted = len(view)  # counted whole by its first view held: it keeps the piece
        while view and self._error is None:
            if self._skip:
                step = min(self._skip, len(view))
                self._skip -= step
                view = view[step:]
            elif self._left:
                view = self._chunk_data(view)
            else:
                view = self._boundary(view)

    def problem(self) -> str | None:
        if self._error is None and not self._ended:
            self._error = "the PNG has no IEND chunk after its data"
        return self._error

    def _chunk_data(self, view: memoryview) -> memoryview:
        # a view, not a copy: IDAT is held as views of the pieces fed (immutable bytes), and
        # joined once at IEND
        piece = view[: self._left]
        self._left -= len(piece)
        self._crc = zlib.crc32(piece, self._crc)
        if self._type == b"IHDR":
            self._ihdr += piece
        elif self._type == b"IDAT":
            self._take_idat(piece)
        return view[len(piece) :]

    def _boundary(self, view: memoryview) -> memoryview:
        """Between chunks: the 4-byte CRC of the one before (if any), then the next header."""
        need = 12 if self._type else 8
        take = min(need - len(self._pending), len(view))
        self._pending += bytes(view[:take])
        view = view[take:]
        if len(self._pending) < need:
            return view
        if self._type:
            self._end_chunk(struct.unpack(">I", self._pending[:4])[0])
        if self._error is None:
            length, kind = struct.unpack(">I4s", self._pending[-8:])
            self._start_chunk(length, kind)
        self._pending = b""
        return view

    def _start_chunk(self, length: int, kind: bytes) -> None:
        if self._ended:
            self._error = "the PNG has data after IEND"
            return
        self._type, self._left, self._crc = kind, length, zlib.crc32(kind)
        if kind == b"IEND":
            self._ended = True
            self._skip = 4  # its CRC is fixed and the tail check saw it
            if self._held:
                self._inflate_held()
            if self._whole or self._error is not None:
                return
            if not self._inflate.eof:
                self._error = "the PNG's image data (IDAT) is cut short"
            elif self._expected is not None and self._inflated != self._expected:
                self._error = f"the PNG's image data is {self._inflated} of {self._expected} bytes"

    def _end_chunk(self, crc: int) -> None:
        if crc != self._crc & 0xFFFFFFFF:
            self._error = f"the PNG's {self._type.decode('latin-1')} chunk is damaged (CRC)"
        elif self._type == b"IHDR":
            self._expected = raw_size(self._ihdr)

    def _take_idat(self, piece: memoryview) -> None:
        if self._held is None:
            self._inflate_some(piece)
            return
        self._held.append(piece)
        self._held_bytes += VIEW_BYTES + self._uncounted  # a view keeps its whole piece alive
        self._uncounted = 0
        if not self._expected or self._expected > WHOLE_MAX or self._held_bytes > HELD_MAX:
            self._stream_held()

    def _inflate_held(self) -> None:
        """The held IDAT in one call; if it fails, streamed instead, to word the problem."""
        # held only with libdeflate and a size known and under WHOLE_MAX (_take_idat)
        assert deflate is not None and self._held is not None and self._expected
        data = b"".join(self._held)
        try:
            self._whole = len(deflate.zlib_decompress(data, self._expected)) == self._expected
        except deflate.DeflateError:
            self._whole = False
        if self._whole:
            self._held = None
        else:
            self._stream_held()

    def _stream_held(self) -> None:
        held, self._held = self._held or [], None
        for piece in held:
            if self._error is not None:
                return
            self._inflate_some(piece)

    def _inflate_some(self, data: bytes | memoryview) -> None:
        try:
            while data and not self._inflate.eof:
                out = self._inflate.decompress(data, INFLATE_STEP)
                self._inflated += len(out)
                if self._expected is not None and self._inflated > self._expected:
                    self._error = "the PNG's image data is longer than its size says"
                    return
                data = self._inflate.unconsumed_tail
        except INFLATE_ERROR as exc:
            self._error = f"the PNG's image data does not inflate: {exc}"


def raw_size(ihdr: bytes) -> int | None:
    """Bytes the inflated image data must have (filter byte per row), or None if interlaced."""
    if len(ihdr) != 13:
        return None
    fields: tuple[int, ...] = struct.unpack(">IIBBBBB", ihdr)
    width, height, depth, colour, _, _, interlace = fields
    if interlace or colour not in CHANNELS:
        return None
    row_bits = width * CHANNELS[colour] * depth
    return height * (1 + (row_bits + 7) // 8)
