"""The caption band across the top of every emulator image: the prompt's first words, then the
aspect ratio, seed and image index, so a gallery shows which prompt made which file.

Each glyph is rendered once per font size (Pillow's built-in font) and cached; a caption is the
cached glyph masks pasted side by side, so drawing one costs a few pastes, not a text layout.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

# Pillow loads with the first image drawn, not when the emulator starts: a run's start (and
# its signal handlers) comes ~50 ms sooner on a busy machine.
if TYPE_CHECKING:
    from PIL import Image, ImageFont

FONT_PX_AT_1K = 28  # font size when the short side is 1024 px; it scales with the picture
MIN_FONT_PX = 10
BAND_COLOUR = (18, 22, 30)
LINE_COLOURS = ((245, 245, 240), (255, 200, 110))  # the prompt, then the facts
CAPTION_CHARS = 60  # the prompt's first words, cut at a word boundary
# Imagen's pixel sizes (1K; 2K is twice each side) read as the ratio asked for, not 11:6
IMAGEN_SIZES = {(1024, 1024): "1:1", (896, 1280): "3:4", (1280, 896): "4:3"}
IMAGEN_SIZES |= {(768, 1408): "9:16", (1408, 768): "16:9"}
COMMON_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
RATIO_TOLERANCE = 0.03


@dataclass(frozen=True, slots=True)
class Glyph:
    mask: Image.Image  # "L": 255 where the glyph is inked
    dx: int  # where the mask goes, from the pen position
    dy: int
    advance: int


def font_size(width: int, height: int) -> int:
    size = round(min(width, height) * FONT_PX_AT_1K / 1024)
    return max(MIN_FONT_PX, min(size, height // 8))  # the band stays within half the picture


def strip_height(width: int, height: int, line: int) -> int:
    """Rows of the band's strip for `line` (0: the prompt, 1: the facts): a margin above the
    text, the text, and under the last line a margin below."""
    size = font_size(width, height)
    return _margin(size) * (1 if line == 0 else 2) + _line_height(size)


def band_height(width: int, height: int) -> int:
    """Rows the caption band takes at the top of the picture."""
    return strip_height(width, height, 0) + strip_height(width, height, 1)


def first_words(prompt: str, limit: int = CAPTION_CHARS) -> str:
    """The prompt's start, cut at a word boundary, with an ellipsis when cut."""
    text = " ".join(prompt.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return cut + "…"


def aspect_label(width: int, height: int) -> str:
    """The aspect ratio a size was asked as: Imagen's table, else a common ratio within 3%,
    else the pixel size."""
    for scale in (1, 2):
        if width % scale == 0 and height % scale == 0:
            known = IMAGEN_SIZES.get((width // scale, height // scale))
            if known:
                return known
    for ratio in COMMON_RATIOS:
        a, b = (int(n) for n in ratio.split(":"))
        if abs(math.log(width * b / (height * a))) <= RATIO_TOLERANCE:
            return ratio
    return f"{width}x{height}"


def strip_rows(width: int, height: int, text: str, line: int) -> bytes:
    """One strip of the band as PNG scanlines (filter byte 0, then RGB): `text` in the colour
    of `line`. Each line is its own strip, so a file's strips can be cached and reused (the
    images of one task share their prompt's strip; the facts repeat across tasks)."""
    from PIL import Image

    size = font_size(width, height)
    margin = _margin(size)
    ink = Image.new("L", (width, strip_height(width, height, line)), 0)
    ink.paste(_line_mask(text, size, width - 2 * margin, _line_height(size)), (margin, margin))
    # ink 0..255 -> the band colour blended toward the line's: one palette lookup per pixel
    strip = Image.frombytes("P", ink.size, ink.tobytes())
    strip.putpalette(_palette(line))
    raw, stride = strip.convert("RGB").tobytes(), 3 * width
    return b"".join(b"\x00" + raw[y : y + stride] for y in range(0, len(raw), stride))


@functools.lru_cache(maxsize=len(LINE_COLOURS))
def _palette(line: int) -> bytes:
    ink = LINE_COLOURS[line]
    return bytes(
        round(back + (front - back) * level / 255)
        for level in range(256)
        for back, front in zip(BAND_COLOUR, ink, strict=True)
    )


def _line_mask(text: str, size: int, room: int, line_h: int) -> Image.Image:
    from PIL import Image

    mask = Image.new("L", (max(room, 1), line_h), 0)
    space, x = _glyph(" ", size).advance, 0
    for word in text.split(" "):
        piece = _word(word, size, line_h)
        if x + piece.advance > room:
            break  # the caption is a label, not the prompt: what does not fit is left out
        if piece.mask.width:
            mask.paste(piece.mask, (x, 0))
        x += piece.advance + space
    return mask


@functools.lru_cache(maxsize=8192)
def _word(word: str, size: int, line_h: int) -> Glyph:
    """A word's glyphs side by side: prompts repeat their words (templates above all), so a
    caption is a few pastes of cached words."""
    from PIL import Image

    glyphs = [_glyph(char, size) for char in word]
    advance = sum(glyph.advance for glyph in glyphs)
    mask = Image.new("L", (advance, line_h), 0)
    x = 0
    for glyph in glyphs:
        if glyph.mask.width and glyph.mask.height:
            mask.paste(glyph.mask, (x + glyph.dx, glyph.dy))
        x += glyph.advance
    return Glyph(mask, 0, 0, advance)


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=4096)
def _glyph(char: str, size: int) -> Glyph:
    from PIL import Image, ImageDraw

    font = _font(size)
    left, top, right, bottom = (int(v) for v in font.getbbox(char))
    mask = Image.new("L", (max(right - left, 0), max(bottom - top, 0)), 0)
    if mask.width and mask.height:
        ImageDraw.Draw(mask).text((-left, -top), char, fill=255, font=font)
    return Glyph(mask, left, top, max(round(font.getlength(char)), 1))


def _line_height(size: int) -> int:
    return round(size * 1.25)


def _margin(size: int) -> int:
    return max(round(size * 0.45), 2)
