"""The one aiohttp session of a run, foreign errors mapped at one boundary, and image fetching."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from batchgen.errors import DownloadError, ProviderError, ProviderTimeout, Rejected, ServerError
from batchgen.models import Generation, ImageRef, Task
from batchgen.providers.base import Download, Provider
from batchgen.providers.hosts import HostGuard, resolver_kwargs
from batchgen.redact import clip, redact, remember

# Downloads are read in pieces of up to 1 MiB, with up to READ_BUFSIZE buffered per
# connection: 64 KiB pieces cost ~30% more CPU per 1.5 MB image in loop turns (issue 18).
DOWNLOAD_CHUNK = 1024 * 1024
READ_BUFSIZE = 256 * 1024
MAX_IMAGE_BYTES = 64 * 1024 * 1024
# Four 2K images inline as base64 come to ~50 MB; an answer past this is broken or hostile.
MAX_ANSWER_BYTES = 96 * 1024 * 1024
USER_AGENT = "batchgen/0.1"
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)


_GUARDS: weakref.WeakKeyDictionary[aiohttp.ClientSession, HostGuard] = weakref.WeakKeyDictionary()


def new_session(
    *, request_timeout_s: float, guard: HostGuard | None = None
) -> aiohttp.ClientSession:
    """No default headers: credentials are added per request, to the API origin only.
    With a `guard`, image links may not lead to private addresses (batchgen.providers.hosts)."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, **resolver_kwargs(guard)),
        timeout=aiohttp.ClientTimeout(total=request_timeout_s, sock_connect=30),
        headers={"User-Agent": USER_AGENT},
        raise_for_status=False,
        read_bufsize=READ_BUFSIZE,
    )
    if guard is not None:
        _GUARDS[session] = guard
    return session


@contextmanager
def mapped_errors(what: str) -> Iterator[None]:
    """Translate aiohttp/socket failures into batchgen's retryable errors."""
    try:
        yield
    except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise ProviderTimeout(f"{what}: no answer in time") from exc
    except (aiohttp.ClientError, ConnectionError) as exc:
        raise ServerError(f"{what}: {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Answer:
    """An API response read whole (up to MAX_ANSWER_BYTES): JSON answers are small next to the
    images they point at."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    json: Any = None,
    max_bytes: int = MAX_ANSWER_BYTES,
) -> Answer:
    """One API request with credentials: redirects are never followed (they could carry the key
    to another host); network failures become retryable ProviderErrors."""
    with mapped_errors(f"{method} {url}"):
        async with session.request(
            method, url, json=json, headers=dict(headers), allow_redirects=False
        ) as response:
            _headers_arrived()
            body = await _capped_body(response, max_bytes, f"{method} {url}")
            return Answer(response.status, CIMultiDictProxy(CIMultiDict(response.headers)), body)


@dataclass(slots=True)
class _Stopwatch:
    """One generate() call: when it started, when the last answer's headers came."""

    started: float
    headers_at: float | None = None


# Per asyncio task (each worker renders one task at a time): call() marks the headers here.
_WATCH: ContextVar[_Stopwatch | None] = ContextVar("batchgen_request_watch", default=None)


def _headers_arrived() -> None:
    watch = _WATCH.get()
    if watch is not None:  # the last answer counts: a polled job's result is in its last one
        watch.headers_at = time.monotonic()


def timed(generate: Callable[..., Awaitable[Generation]]) -> Callable[..., Awaitable[Generation]]:
    """Wrap a provider's generate(): the Generation comes back with ttfb_s (start to the last
    answer's headers) and body_s (that body read and parsed), measured here, at the wire."""

    @functools.wraps(generate)
    async def measured(self: Any, task: Task, *, model: str) -> Generation:
        watch = _Stopwatch(time.monotonic())
        token = _WATCH.set(watch)
        try:
            generation = await generate(self, task, model=model)
        finally:
            _WATCH.reset(token)
        if watch.headers_at is None:
            return generation
        return dataclasses.replace(
            generation,
            ttfb_s=watch.headers_at - watch.started,
            body_s=time.monotonic() - watch.headers_at,
        )

    return measured


async def _capped_body(response: aiohttp.ClientResponse, max_bytes: int, what: str) -> bytes:
    """Read the (decompressed) answer chunk by chunk, stopping at `max_bytes`: a gzip bomb or a
    runaway body fails this request instead of taking the memory of the whole run."""
    if response.content_length is not None and response.content_length > max_bytes:
        raise ServerError(f"{what}: answer of {response.content_length} bytes, over {max_bytes}")
    parts: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(DOWNLOAD_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise ServerError(f"{what}: answer over {max_bytes} bytes (after decompression)")
        parts.append(chunk)
    return b"".join(parts)


def same_origin(url: str, base_url: str) -> bool:
    """Whether `url` is on the API's own origin (scheme, host and port), where keys may go."""
    target, base = URL(url), URL(base_url)
    return target.is_absolute() and target.origin() == base.origin()


def redacted(error: ProviderError, secret: str | None) -> ProviderError:
    """A server that echoes the key must not put it into our journal or logs. Errors redact
    themselves at construction (batchgen.redact); this also covers a key not yet remembered."""
    remember(secret)
    error.message = redact(error.message)
    error.args = (error.message,)
    return error


def keyless(generation: Generation) -> Generation:
    """Refuse an answer whose image links carry a live key: a link is journalled and fetched
    from whatever host it names, so keeping it would write the key to disk and send it on."""
    for ref in generation.images:
        if ref.url is not None and redact(ref.url) != ref.url:
            raise Rejected(f"image {ref.index}: the answer's image URL contains the API key")
    return generation


@asynccontextmanager
async def fetch_image(
    session: aiohttp.ClientSession, url: str, *, max_bytes: int = MAX_IMAGE_BYTES
) -> AsyncIterator[Download]:
    """GET an image URL with no credentials; refuse non-http(s), error pages and oversize bodies."""
    target = URL(url)
    if target.scheme not in ("http", "https") or not target.host:
        raise DownloadError(
            f"refusing to fetch image from {clip(url, 80)!r}: not an http(s) URL", retryable=False
        )
    guard = _GUARDS.get(session)
    try:
        async with _following(session, target, guard) as response:
            _check_image_response(response, max_bytes)
            yield Download(_body(response), expected_bytes=response.content_length)
    except (asyncio.TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
        raise DownloadError(f"image download failed: {type(exc).__name__}: {exc}") from exc


@asynccontextmanager
async def _following(
    session: aiohttp.ClientSession, target: URL, guard: HostGuard | None
) -> AsyncIterator[aiohttp.ClientResponse]:
    """GET, following up to MAX_REDIRECTS redirects by hand so each hop's host is checked."""
    for _ in range(MAX_REDIRECTS + 1):
        if guard is not None:
            await guard.check(target)
        async with session.get(target, allow_redirects=False) as response:
            location = response.headers.get("Location")
            if response.status not in REDIRECTS or location is None:
                yield response
                return
            target = target.join(URL(location))
        if target.scheme not in ("http", "https"):
            raise DownloadError("image link redirected to a non-http(s) URL", retryable=False)
    raise DownloadError(f"image link redirected more than {MAX_REDIRECTS} times")


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


class HttpProvider(Provider):
    """A provider over the run's one aiohttp session. Its key goes only into its own requests;
    images are fetched with no credentials at all. Each subclass's generate() is timed
    (`timed`): the split of a request into time to headers and body is measured here."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "generate" in cls.__dict__:
            # the wrapper keeps the signature; mypy cannot see through the assignment
            cls.generate = timed(cls.__dict__["generate"])  # type: ignore[method-assign,assignment]

    def __init__(
        self, session: aiohttp.ClientSession, *, base_url: str, api_key: str | None
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._relink: Callable[[str], str] | None = None  # see fetch_links_through
        remember(api_key)  # from here on, no message batchgen keeps can carry it

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base_url!r})"  # never the key

    # read by providers.batching: a batch client shares the session, origin and key
    @property
    def session(self) -> aiohttp.ClientSession:
        return self._session

    @property
    def base_url(self) -> str:
        """Where requests go (never holds the key; recorded with a run's settings)."""
        return self._base_url

    @property
    def api_key(self) -> str | None:
        return self._api_key

    def fetch_links_through(self, relink: Callable[[str], str]) -> None:
        """Fetch each image link as `relink` gives it: the built-in emulator serves the links
        a killed run's emulator gave (their port died with that process), so a rerun fetches
        the images paid for instead of buying them again (providers.open_provider)."""
        self._relink = relink

    def fetch(self, ref: ImageRef) -> AbstractAsyncContextManager[Download]:
        assert ref.url is not None
        url = ref.url if self._relink is None else self._relink(ref.url)
        return fetch_image(self._session, url)

    async def aclose(self) -> None:
        await self._session.close()
