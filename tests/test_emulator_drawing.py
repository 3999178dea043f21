"""Each emulator image carries its own caption band (the prompt's first words; aspect ratio, seed,
index) drawn in pixels above the shared picture: files stay whole PNGs of exact pixel sizes and
near their byte targets, and a run's file shows the prompt of the task that made it."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from batchgen.emulator import drawing, images
from batchgen.emulator.profiles import image_target_bytes
from batchgen.run.job import RunOptions, run
from tests.helpers import FAST, PIXELS, PREVIEW, check_run_dir, journal_rows, load

PROMPT = "Studio photo of a fox wearing a tiny hat, minimal, plain white background"


def decode(png: images.PngFile) -> Image.Image:
    image = Image.open(io.BytesIO(png.to_bytes()))
    image.load()  # every pixel: a broken stream or checksum fails here
    return image


def band_of(image: Image.Image) -> bytes:
    rows = drawing.band_height(*image.size)
    return image.convert("RGB").crop((0, 0, image.width, rows)).tobytes()


def drawn(width: int, height: int, lines: tuple[str, str]) -> bytes:
    """The band as drawing.py draws it, without the scanline filter bytes."""
    raw = b"".join(drawing.strip_rows(width, height, text, i) for i, text in enumerate(lines))
    stride = 1 + 3 * width
    return b"".join(raw[y + 1 : y + stride] for y in range(0, len(raw), stride))


def token(prompt: str = PROMPT, *, size: tuple[int, int] = (1024, 1024), seed: int | None = 7,
          index: int = 0, image_bytes: str = "small") -> images.ImageToken:  # fmt: skip
    target = image_target_bytes(image_bytes, *size)
    return images.make_tokens(size, target, "ab" * 16, prompt, index + 1, seed)[index]


@pytest.mark.parametrize("aspect", list(PIXELS))
@pytest.mark.parametrize("image_bytes", ["small", "realistic"])
def test_files_keep_their_pixel_size_and_byte_target(aspect: str, image_bytes: str) -> None:
    size = PIXELS[aspect]
    tok = token(size=size, image_bytes=image_bytes)
    png = images.render_png(tok)
    image = decode(png)
    assert image.format == "PNG" and image.size == size
    assert 0.95 * tok.target_bytes <= png.size <= 1.05 * tok.target_bytes
    assert band_of(image) == drawn(*size, tok.caption_lines())
    assert tok.caption_lines()[1] == f"{aspect}  seed 7  index 0"


def test_the_band_differs_by_prompt_seed_and_index_and_the_picture_below_does_not() -> None:
    files = [
        token(),
        token("A lighthouse on a cliff at dawn"),
        token(seed=8),
        token(index=1),
    ]
    pictures = [decode(images.render_png(t)) for t in files]
    bands = [band_of(p) for p in pictures]
    assert len(set(bands)) == 4
    below = drawing.band_height(1024, 1024)
    scenes = {p.crop((0, below, 1024, 1024)).tobytes() for p in pictures}
    assert len(scenes) == 1
    assert decode(images.render_png(files[0])).tobytes() == pictures[0].tobytes()  # repeatable


def test_the_token_carries_seed_and_caption_through_the_url() -> None:
    sizes = frozenset({(1024, 1024)})
    for tok in (token(), token("Zürich 東京 — ünïcode", seed=None), token(seed=4_294_967_295)):
        text = tok.encode()
        assert text.isascii() and "/" not in text and "=" not in text
        assert images.decode_token(text, sizes) == tok
    old = "1024x1024-99615-" + "0" * 32 + "-0-deadbeef"  # a token from before captions
    assert images.decode_token(old, sizes) == images.ImageToken(
        1024, 1024, 99615, "0" * 32, 0, "deadbeef"
    )
    assert images.decode_token(old + "-n-%%%", sizes) is None


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_adler32_combine_is_zlibs(a: bytes, b: bytes) -> None:
    combined = images.adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b))
    assert combined == zlib.adler32(a + b)


def test_captions_and_aspect_labels() -> None:
    assert drawing.first_words("a  short\nprompt") == "a short prompt"
    long = drawing.first_words("word " * 40)
    assert long.endswith("…") and len(long) <= drawing.CAPTION_CHARS + 1
    assert drawing.aspect_label(1408, 768) == "16:9"  # Imagen's size, not 11:6
    assert drawing.aspect_label(1792, 2560) == "3:4"  # Imagen at 2K
    assert drawing.aspect_label(1024, 1536) == "2:3"  # OpenAI's portrait
    assert drawing.aspect_label(1184, 864) == "4:3"  # within 3%
    assert drawing.aspect_label(1000, 123) == "1000x123"


def test_a_runs_files_show_the_prompt_that_made_them(tmp_path: Path) -> None:
    manifest = load(tmp_path, f"""
        version: 1
        provider: {{kind: emulator, time_scale: 0, image_bytes: small}}
        models: [{FAST}, {PREVIEW}]
        aspect_ratios: ["1:1", "16:9"]
        seeds: [11]
        num_images: 2
        prompts: ["Racoon eating ice-cream", "A lighthouse on a cliff at dawn, watercolor"]
    """)  # fmt: skip
    job = run(manifest, RunOptions(out=tmp_path / "run", html=False))
    assert job.summary.tasks.done == 8
    assert check_run_dir(job.run_dir) == 16
    rows = journal_rows(
        job.run_dir,
        "SELECT i.path, t.prompt, t.aspect_ratio, i.idx FROM images i"
        " JOIN tasks t ON t.id = i.task_id",
    )
    for path, prompt, aspect, index in rows:
        with Image.open(job.run_dir / path) as image:
            lines = (drawing.first_words(prompt), f"{aspect}  seed 11  index {index}")
            assert band_of(image) == drawn(image.width, image.height, lines), path
