"""The emulator's PNG files: sizes per aspect ratio, byte sizes, distinct files, bad tokens."""

from __future__ import annotations

import pytest

from tests.emulator_kit import (
    SIZES,
    assert_error_body,
    decode_png,
    download,
    emulator,
    generate,
)

pytestmark = pytest.mark.anyio


# --- PNG files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("aspect", "size"), list(SIZES.items()))
async def test_realistic_png_per_aspect(aspect: str, size: tuple[int, int]) -> None:
    async with emulator(image_bytes="realistic") as (_, session):
        _, body = await generate(session, aspect_ratio=aspect)
        response, data = await download(session, body["data"][0]["url"])
    assert response.status == 200
    assert response.headers["Content-Type"] == "image/png"
    assert int(response.headers["Content-Length"]) == len(data)
    assert 1_300_000 <= len(data) <= 1_800_000
    image = decode_png(data)
    assert image.size == size
    assert image.format == "PNG"


@pytest.mark.parametrize(("image_bytes", "target"), [("small", 100_000), (250_000, 250_000)])
async def test_png_byte_size_follows_config(image_bytes: str | int, target: int) -> None:
    async with emulator(image_bytes=image_bytes) as (_, session):
        _, body = await generate(session, aspect_ratio="16:9")
        _, data = await download(session, body["data"][0]["url"])
    assert 0.85 * target <= len(data) <= 1.15 * target
    assert decode_png(data).size == (1408, 768)


async def test_every_image_is_a_distinct_file() -> None:
    async with emulator() as (_, session):
        urls = [item["url"] for item in (await generate(session, num_images=4))[1]["data"]]
        urls += [item["url"] for item in (await generate(session, num_images=2))[1]["data"]]
        files = [(await download(session, url))[1] for url in urls]
    assert len(set(urls)) == len(set(files)) == 6
    for data in files:
        decode_png(data)


@pytest.mark.parametrize(
    "name",
    [
        "nonsense",
        "1000x1000-100000-" + "0" * 32 + "-0-deadbeef",  # a size the server never makes
        "1024x1024-999-" + "0" * 32 + "-0-deadbeef",  # a byte target out of range
        "1024x1024-100000-" + "0" * 31 + "-0-deadbeef",
    ],
)
async def test_bad_file_token_is_404(name: str) -> None:
    async with emulator() as (_, session), session.get(f"/files/{name}.png") as response:
        assert response.status == 404
        assert_error_body(await response.json(), 404, f"/files/{name}.png")
