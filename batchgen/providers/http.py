"""The one aiohttp session of a run, foreign errors mapped at one boundary, and image fetching."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import aiohttp
from yarl import URL

from ..errors import DownloadError, ProviderTimeout, ServerError
from .base import Download

DOWNLOAD_CHUNK = 64 * 1024
MAX_IMAGE_BYTES = 64 * 1024 * 1024
USER_AGENT = "batchgen/0.1"


def new_session(*, request_timeout_s: float) -> aiohttp.ClientSession:
    """No default headers: credentials are added per request, to the API origin only."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
        timeout=aiohttp.ClientTimeout(total=request_timeout_s, sock_connect=30),
        headers={"User-Agent": USER_AGENT},
        raise_for_status=False,
    )


@contextmanager
def mapped_errors(what: str) -> Iterator[None]:
    """Translate aiohttp/socket failures into batchgen's retryable errors."""
    try:
        yield
    except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise ProviderTimeout(f"{what}: no answer in time") from exc
    except (aiohttp.ClientError, ConnectionError) as exc:
        raise ServerError(f"{what}: {type(exc).__name__}: {exc}") from exc


@asynccontextmanager
async def fetch_image(
    session: aiohttp.ClientSession, url: str, *, max_bytes: int = MAX_IMAGE_BYTES
) -> AsyncIterator[Download]:
    """GET an image URL with no credentials; refuse non-http(s), error pages and oversize bodies."""
    target = URL(url)
    if target.scheme not in ("http", "https") or not target.host:
        raise DownloadError(
            f"refusing to fetch image from {url[:80]!r}: not an http(s) URL", retryable=False
        )
    try:
        async with session.get(target, allow_redirects=True, max_redirects=5) as response:
            _check_image_response(response, max_bytes)
            yield Download(_body(response), expected_bytes=response.content_length)
    except (asyncio.TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
        raise DownloadError(f"image download failed: {type(exc).__name__}: {exc}") from exc


def _check_image_response(response: aiohttp.ClientResponse, max_bytes: int) -> None:
    if response.status != 200:
        transient = response.status in (408, 429) or response.status >= 500
        raise DownloadError(f"image download answered HTTP {response.status}", retryable=transient)
    if response.content_type.startswith("text/"):
        raise DownloadError(f"image URL returned {response.content_type}, not an image")
    if response.content_length is not None and response.content_length > max_bytes:
        raise DownloadError(
            f"image is {response.content_length} bytes, over {max_bytes}", retryable=False
        )


async def _body(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.content.iter_chunked(DOWNLOAD_CHUNK):
            yield chunk
    except (asyncio.TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
        raise DownloadError(f"image download broke off: {type(exc).__name__}") from exc
