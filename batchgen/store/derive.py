"""Output formats and sizes: re-encode an image (png/jpeg/webp) and derive resized variants,
in a bounded worker pool off the event loop (Pillow releases the GIL while it codes)."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from batchgen.errors import DownloadError
from batchgen.models import ORIGINAL_SIZE, OutputConfig, OutputSize

if (
    TYPE_CHECKING
):  # Pillow loads only when a run derives (it costs start-up, tests/test_perf_imports)
    from PIL import Image

# One encoder per core: more would only queue inside Pillow and hold more decoded pixels.
DEFAULT_WORKERS = max(2, os.cpu_count() or 2)
MAX_PIXELS = 64_000_000  # a decode bomb guard: 8k x 8k is already far past any provider
_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
_FORMAT_OF_MIME = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}
# WebP's method 4 of 0..6: Pillow's default; 6 costs ~2x the CPU for ~3% fewer bytes.
_WEBP_METHOD = 4


@dataclass(frozen=True, slots=True)
class Encoded:
    """One file's bytes, ready to be staged: its {size} label and format."""

    size: str
    data: bytes
    format: str  # one of OUTPUT_FORMATS
    unchanged: bool = False  # the original's bytes as they came: its staged file is reused


class Deriver:
    """Runs `derive` in at most `workers` threads at once; the event loop only awaits."""

    def __init__(self, output: OutputConfig, *, workers: int = DEFAULT_WORKERS) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.output = output
        self._limiter = anyio.CapacityLimiter(workers)

    def __repr__(self) -> str:
        return f"Deriver(format={self.output.format!r}, sizes={len(self.output.sizes)})"

    async def derive_file(self, path: Path, mime_type: str) -> list[Encoded]:
        """The files made from the checked image at `path` (read and coded in a worker)."""
        return await anyio.to_thread.run_sync(
            _derive_file, path, mime_type, self.output, limiter=self._limiter
        )


def _derive_file(path: Path, mime_type: str, output: OutputConfig) -> list[Encoded]:
    return derive(path.read_bytes(), mime_type, output)


def derive(data: bytes, mime_type: str, output: OutputConfig) -> list[Encoded]:
    """The files output.format/sizes/keep_original make from one checked image: the original
    first (its bytes untouched when no other format is asked), then each size in order."""
    source_format = _FORMAT_OF_MIME.get(mime_type)
    if source_format is None:
        raise DownloadError(f"cannot convert {mime_type}", retryable=False)
    target = output.format or source_format
    files: list[Encoded] = []
    image = _open(data) if output.sizes or target != source_format else None
    if output.keep_original:
        if image is None or target == source_format:
            files.append(Encoded(ORIGINAL_SIZE, data, source_format, unchanged=True))
        else:
            files.append(Encoded(ORIGINAL_SIZE, encode(image, target, output.quality), target))
    for size in output.sizes:
        assert image is not None  # opened whenever there are sizes
        resized = resize(image, size)
        files.append(Encoded(size.label, encode(resized, target, output.quality), target))
    return files


def resize(image: Image.Image, size: OutputSize) -> Image.Image:
    """`width`: that width, the height from the aspect; `contain`: the largest image of the
    same aspect inside width x height; `cover`: exactly width x height, centre-cropped."""
    from PIL import Image, ImageOps

    width, height = image.size
    if size.fit == "cover" and size.height is not None:
        return ImageOps.fit(image, (size.width, size.height), Image.Resampling.LANCZOS)
    scale = size.width / width
    if size.fit == "contain" and size.height is not None:
        scale = min(scale, size.height / height)
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(target, Image.Resampling.LANCZOS)


def encode(image: Image.Image, fmt: str, quality: int) -> bytes:
    """`image` as png, jpeg (alpha flattened onto white: JPEG has none) or webp bytes."""

    out = io.BytesIO()
    if fmt == "jpeg":
        image = _flatten(image)
        image.save(out, "JPEG", quality=quality, optimize=True)
    elif fmt == "webp":
        image.save(out, "WEBP", quality=quality, method=_WEBP_METHOD)
    else:
        image.save(out, _PIL_FORMATS[fmt])
    return out.getvalue()


def _flatten(image: Image.Image) -> Image.Image:
    from PIL import Image

    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image if image.mode in ("RGB", "L") else image.convert("RGB")


def _open(data: bytes) -> Image.Image:
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:
            message = f"image too large to convert: {image.width}x{image.height}"
            raise DownloadError(message, retryable=False)
        image.load()
    except (OSError, Image.DecompressionBombError) as exc:
        message = f"cannot decode the image to convert it: {exc}"
        raise DownloadError(message, retryable=False) from exc
    return image


def size_template(template: str) -> str:
    """output.filename for a resized variant: as written when it names {size}, else with
    "-{size}" before ".{ext}" (the original keeps its name), so no two files share one."""
    if "{size}" in template:
        return template
    head, dot_ext, tail = template.rpartition(".{ext}")
    return f"{head}-{{size}}{dot_ext}{tail}" if dot_ext else f"{template}-{{size}}"
