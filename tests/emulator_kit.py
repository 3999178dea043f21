"""Helpers for the emulator tests: an emulator on loopback, a request, a download, checks."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import aiohttp
from PIL import Image

from batchgen.emulator import (
    Emulator,
    EmulatorConfig,
    running_emulator,
)

FAST = "google/imagen-4.0-fast-generate-001"
STANDARD = "google/imagen-4.0-generate-001"
ULTRA = "google/imagen-4.0-ultra-generate-001"
PREVIEW = "google/imagen4/preview"
GENERATIONS = "/v1/images/generations"
SIZES = {
    "1:1": (1024, 1024),
    "3:4": (896, 1280),
    "4:3": (1280, 896),
    "9:16": (768, 1408),
    "16:9": (1408, 768),
}


class FakeClock:
    """A clock the test moves by hand, so rate windows need no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def emulator(
    clock: FakeClock | None = None, **settings: Any
) -> AsyncIterator[tuple[Emulator, aiohttp.ClientSession]]:
    config = EmulatorConfig(**{"time_scale": 0.0, "image_bytes": "small", **settings})
    async with (
        running_emulator(config, clock=clock) as running,
        aiohttp.ClientSession(running.base_url) as session,
    ):
        yield running, session


async def generate(
    session: aiohttp.ClientSession, headers: dict[str, str] | None = None, **body: Any
) -> tuple[int, dict[str, Any]]:
    payload = {"model": FAST, "prompt": "Racoon eating ice-cream", **body}
    async with session.post(GENERATIONS, json=payload, headers=headers) as response:
        return response.status, await response.json()


async def download(
    session: aiohttp.ClientSession, url: str
) -> tuple[aiohttp.ClientResponse, bytes]:
    async with session.get(url) as response:
        return response, await response.read()


def decode_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()  # decodes every row, so a broken file fails here
    return image


def assert_error_body(body: dict[str, Any], status: int, path: str = GENERATIONS) -> None:
    assert set(body) == {"message", "path", "requestId", "statusCode", "timestamp"}
    assert body["statusCode"] == status
    assert body["path"] == path
    uuid.UUID(body["requestId"])
    assert body["timestamp"].endswith("Z")
    datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
