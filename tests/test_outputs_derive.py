"""Output formats and sizes, unit level: exact pixel sizes, aspect kept, magic bytes, quality,
naming, and the manifest's checks of output.format/quality/sizes/keep_original."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from batchgen.errors import DownloadError, ManifestError
from batchgen.expand import image_path
from batchgen.models import ORIGINAL_SIZE, OutputConfig, OutputSize, Task
from batchgen.store.derive import derive, encode, resize, size_template
from tests.helpers import FAST, load

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff"}


def picture(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A noisy picture: flat colour would compress to nothing and hide quality differences."""
    image = Image.effect_noise((width, height), 64).convert(mode)
    return image


def png_bytes(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    picture(width, height, mode).save(out, "PNG")
    return out.getvalue()


def is_webp(data: bytes) -> bool:
    return data[:4] == b"RIFF" and data[8:12] == b"WEBP"


@pytest.mark.parametrize(
    ("source", "size", "expected"),
    [
        ((1024, 1024), OutputSize(400), (400, 400)),
        ((896, 1280), OutputSize(400), (400, 571)),  # 1280 * 400 / 896 = 571.4
        ((1408, 768), OutputSize(1200), (1200, 655)),  # 768 * 1200 / 1408 = 654.5
        ((896, 1280), OutputSize(400, 400, "contain"), (280, 400)),  # the height binds
        ((1408, 768), OutputSize(400, 400, "contain"), (400, 218)),  # the width binds
        ((896, 1280), OutputSize(400, 300, "cover"), (400, 300)),
        ((512, 512), OutputSize(1200), (1200, 1200)),  # a small source is scaled up
    ],
)
def test_resize_gives_exact_pixel_sizes(
    source: tuple[int, int], size: OutputSize, expected: tuple[int, int]
) -> None:
    assert resize(picture(*source), size).size == expected


@pytest.mark.parametrize("source", [(1024, 1024), (896, 1280), (1408, 768), (768, 1408)])
def test_width_and_contain_keep_the_aspect(source: tuple[int, int]) -> None:
    for size in (OutputSize(400), OutputSize(300, 300, "contain"), OutputSize(1200)):
        width, height = resize(picture(*source), size).size
        # within one pixel of rounding on the short side
        assert abs(width / height - source[0] / source[1]) <= 1 / min(width, height)


def test_cover_crops_the_centre_not_squeezes() -> None:
    image = Image.new("RGB", (300, 100), (255, 0, 0))
    image.paste((0, 0, 255), (100, 0, 200, 100))  # a blue middle third
    covered = resize(image, OutputSize(100, 100, "cover"))
    assert covered.size == (100, 100)
    assert covered.getpixel((50, 50)) == (0, 0, 255)
    assert covered.getpixel((2, 50)) == (0, 0, 255)  # the red sides were cropped away


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_encode_writes_the_format_asked(fmt: str) -> None:
    data = encode(picture(64, 48, "RGBA"), fmt, 80)  # alpha: JPEG flattens it
    assert is_webp(data) if fmt == "webp" else data.startswith(MAGIC[fmt])
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.size == (64, 48)
        assert decoded.format == fmt.upper()


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_lower_quality_makes_smaller_files(fmt: str) -> None:
    image = picture(256, 256)
    assert len(encode(image, fmt, 30)) < len(encode(image, fmt, 95))


def test_derive_keeps_the_original_bytes_when_no_format_is_asked() -> None:
    data = png_bytes(200, 100)
    output = OutputConfig(sizes=(OutputSize(50), OutputSize(100)))
    files = derive(data, "image/png", output)
    assert [f.size for f in files] == [ORIGINAL_SIZE, "50", "100"]
    assert files[0].data is data and files[0].unchanged
    assert all(f.data.startswith(MAGIC["png"]) for f in files)
    with Image.open(io.BytesIO(files[1].data)) as small:
        assert small.size == (50, 25)


def test_derive_converts_everything_to_webp_and_can_drop_the_original() -> None:
    output = OutputConfig(format="webp", quality=70, sizes=(OutputSize(40),), keep_original=False)
    files = derive(png_bytes(80, 80), "image/png", output)
    assert [(f.size, f.format) for f in files] == [("40", "webp")]
    assert is_webp(files[0].data)
    converted = derive(png_bytes(80, 80), "image/png", OutputConfig(format="jpeg"))
    assert [f.size for f in converted] == [ORIGINAL_SIZE] and not converted[0].unchanged
    assert converted[0].data.startswith(MAGIC["jpeg"])


def test_derive_refuses_bytes_it_cannot_decode() -> None:
    with pytest.raises(DownloadError) as caught:
        derive(b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "image/png", OutputConfig(format="webp"))
    assert not caught.value.retryable


def test_size_names() -> None:
    assert OutputSize(400).label == "400"
    assert OutputSize(400, 300, "cover").label == "400x300"
    assert size_template("{sku}/{size}.{ext}") == "{sku}/{size}.{ext}"
    assert size_template("{sku}/{index}.{ext}") == "{sku}/{index}-{size}.{ext}"
    task = Task(
        id="t1", ordinal=0, model=FAST, aspect_ratio="1:1", prompt="p", seed=None, num_images=1
    )
    path = image_path("{size}/{task_id}.{ext}", task, index=0, ext="webp", name="n", size="400")
    assert path == "400/t1.webp"
    assert image_path("{size}/{task_id}.{ext}", task, index=0, ext="png", name="n") == (
        "original/t1.png"
    )


BASE = f"""version: 1
name: shop
models: [{FAST}]
prompts: ["a mug"]
"""


def test_the_manifest_reads_output_sizes(tmp_path: Path) -> None:
    manifest = load(
        tmp_path,
        BASE + "output: {format: webp, quality: 70, sizes: [{width: 400}, "
        "{width: 300, height: 200}, {width: 100, height: 100, fit: cover}]}\n",
    )
    output = manifest.output
    assert (output.format, output.quality, output.keep_original) == ("webp", 70, True)
    assert output.sizes == (
        OutputSize(400),
        OutputSize(300, 200, "contain"),
        OutputSize(100, 100, "cover"),
    )


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("{format: gif}", "output.format"),
        ("{quality: 0, format: webp}", "output.quality"),
        ("{format: png, quality: 80}", "PNG is lossless"),
        ("{sizes: [{height: 40}]}", "width"),
        ("{sizes: [{width: 40, fit: cover}]}", "needs a height"),
        ("{sizes: [{width: 40, height: 30, fit: width}]}", "takes no height"),
        ("{sizes: [{width: 40}, {width: 40}]}", "listed twice"),
        ("{keep_original: false}", "no file is left"),
        ("{sizes: [{width: 40, depth: 3}]}", "depth"),
    ],
)
def test_bad_output_settings_are_named(tmp_path: Path, output: str, expected: str) -> None:
    with pytest.raises(ManifestError) as caught:
        load(tmp_path, BASE + f"output: {output}\n")
    assert expected in str(caught.value)
