"""Recognise an image from its first and last bytes: format, pixel size, complete or cut (pure)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
HEAD_BYTES = 64 * 1024  # enough for a PNG IHDR, a WebP header, and JPEG SOF after usual EXIF


@dataclass(frozen=True, slots=True)
class ImageInfo:
    mime_type: str
    ext: str
    width: int
    height: int


def sniff_format(head: bytes) -> tuple[str, str] | None:
    """(mime type, extension) from the magic bytes, or None if this is not an image we know."""
    if head.startswith(PNG_MAGIC):
        return "image/png", "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "jpg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def is_complete(mime_type: str, tail: bytes) -> bool:
    """Does the file end the way a whole image of this format ends?"""
    if mime_type == "image/png":
        return tail.endswith(PNG_END)
    if mime_type == "image/jpeg":
        return tail.rstrip(b"\x00").endswith(b"\xff\xd9")
    return True  # WebP: the RIFF length is checked against the size instead


def dimensions(mime_type: str, head: bytes, size: int) -> tuple[int, int] | None:
    """Pixel width and height from the header, or None when the header is not readable."""
    try:
        if mime_type == "image/png":
            return _png_size(head)
        if mime_type == "image/jpeg":
            return _jpeg_size(head)
        if mime_type == "image/webp":
            return _webp_size(head, size)
    except (struct.error, IndexError):
        return None
    return None


def _png_size(head: bytes) -> tuple[int, int] | None:
    if head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 9 < len(head):
        if head[pos] != 0xFF:
            return None
        marker = head[pos + 1]
        length = struct.unpack(">H", head[pos + 2 : pos + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", head[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None


def _webp_size(head: bytes, size: int) -> tuple[int, int] | None:
    if struct.unpack("<I", head[4:8])[0] + 8 != size:
        return None  # the RIFF header's length disagrees with the bytes we have: cut short
    chunk = head[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None
