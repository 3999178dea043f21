"""Images to object storage (s3://, gs://, az://) through obstore: staged and checked on the
local disk first, then one conditional PUT per object, so an object is whole or absent."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from batchgen.errors import DownloadError, SinkError
from batchgen.models import SavedImage
from batchgen.retry import Retry, RetryPolicy, decide
from batchgen.store.sink import Sink, Staged

BUCKET_SCHEMES = ("s3://", "gs://", "az://", "abfs://")
UPLOADS_DIR = "uploads"  # in the state directory: parts waiting for their upload
# The report's gallery thumbnails (report/gallery.py makes the same from local files; the store
# may not import the report, so its names and sizes are repeated here).
THUMBS_DIR, THUMB_PX, THUMB_QUALITY = "thumbs", 160, 70
UPLOAD_TIMEOUT_S = 120.0
DEFAULT_POLICY = RetryPolicy()
# Words of a store's error that a later attempt may not meet: throttling, a busy or failing
# server, a cut connection, a timeout (the store's own retries are off: ours are bounded).
_TRANSIENT = (
    "503", "500", "502", "504", "slowdown", "slow down", "timed out", "timeout", "connection",
    "reset", "broken pipe", "throttl", "internalerror", "serviceunavailable",
)  # fmt: skip
_REFUSED = ("403", "401", "accessdenied", "permission", "unauthenticated", "credential")


def is_bucket_url(text: str) -> bool:
    return text.startswith(BUCKET_SCHEMES)


class BucketSink(Sink):
    """Stages under `state/uploads` like a local Sink, then `put` uploads the checked bytes:
    `create` mode (If-None-Match) and a single PUT (never a visible partial object); an object
    an earlier run left at the key is kept when its size and MD5 ETag match."""

    def __init__(
        self,
        url: str,
        state: Path,
        *,
        policy: RetryPolicy = DEFAULT_POLICY,
        rand: Callable[[], float] = random.random,
        store: Any = None,
    ) -> None:
        super().__init__(state / UPLOADS_DIR)
        self._thumbs = state / THUMBS_DIR
        self.url = url.rstrip("/")
        self._policy = policy
        self._rand = rand
        self._store = store if store is not None else open_store(self.url)

    def __repr__(self) -> str:
        return f"BucketSink(url={self.url!r})"

    def object_url(self, path: str) -> str:
        return f"{self.url}/{path}"

    async def has(self, path: str) -> bool:
        return await self._head(path) is not None

    async def put(self, staged: Staged, *, thumb: str | None = None) -> SavedImage:
        """Upload a staged, checked file (retried within the policy), then drop the part."""
        try:
            data = staged.part.read_bytes()
            if thumb is not None:
                await anyio.to_thread.run_sync(_thumbnail, data, self._thumbs / f"{thumb}.jpg")
            for attempt in itertools.count(1):
                try:
                    await self._put_once(staged.image, data)
                    return staged.image
                except DownloadError as exc:  # noqa: PERF203 - a retry loop, not a hot loop
                    decision = decide(exc, attempt, self._policy, rand=self._rand)
                    if not isinstance(decision, Retry):
                        raise
                    await anyio.sleep(decision.after_s)
            raise AssertionError("unreachable")
        finally:
            self.discard(staged)

    async def _put_once(self, image: SavedImage, data: bytes) -> None:
        import obstore  # noqa: PLC0415 - the buckets extra: only a bucket run needs it

        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        try:
            with anyio.fail_after(UPLOAD_TIMEOUT_S):
                result = await obstore.put_async(
                    self._store, image.path, data, mode="create", use_multipart=False
                )
        except obstore.exceptions.AlreadyExistsError:
            head = await self._head(image.path)
            if head is not None and await self._same(head, image.path, data, md5):
                return  # an earlier run's upload of these very bytes
            result = await self._overwrite(image.path, data)
        except TimeoutError as exc:
            raise DownloadError(f"upload of {image.path} timed out") from exc
        except Exception as exc:  # noqa: BLE001 - the store's errors, classified here
            raise classify(exc, image.path) from exc
        etag = str(result.get("e_tag") or "").strip('"')
        if etag and "-" not in etag and len(etag) == 32 and etag != md5:
            raise DownloadError(f"{image.path}: the store's ETag does not match the bytes sent")

    async def _overwrite(self, path: str, data: bytes) -> Any:
        import obstore  # noqa: PLC0415 - see _put_once

        try:  # a different object from an older attempt at this task: replaced whole
            return await obstore.put_async(self._store, path, data, use_multipart=False)
        except Exception as exc:  # noqa: BLE001 - the store's errors, classified here
            raise classify(exc, path) from exc

    async def _same(self, head: Any, path: str, data: bytes, md5: str) -> bool:
        """Whether the object at `path` holds `data`: by its size and MD5 ETag (S3, GCS), or
        by its bytes where the ETag is no MD5 (Azure; S3 multipart) and the size agrees."""
        etag = str(head.get("e_tag") or "").strip('"')
        if head.get("size") != len(data):
            return False
        if len(etag) == 32 and "-" not in etag:
            return etag == md5
        import obstore  # noqa: PLC0415 - see _put_once

        try:
            found = await obstore.get_async(self._store, path)
            return bytes(await found.bytes_async()) == data
        except Exception as exc:  # noqa: BLE001 - the store's errors, classified here
            raise classify(exc, path) from exc

    async def _head(self, path: str) -> Any:
        import obstore  # noqa: PLC0415 - see _put_once

        try:
            return await obstore.head_async(self._store, path)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - the store's errors, classified here
            raise classify(exc, path) from exc


def _thumbnail(data: bytes, thumb: Path) -> None:
    """The gallery's thumbnail, best effort: a missing one shows as missing, never fails a run."""
    from PIL import Image  # loaded only when images go to a bucket (start-up stays light)

    part = thumb.with_name(thumb.name + ".part")
    try:
        thumb.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(io.BytesIO(data)) as picture:
            picture.draft("RGB", (THUMB_PX * 2, THUMB_PX * 2))
            picture.thumbnail((THUMB_PX, THUMB_PX))
            picture.convert("RGB").save(part, "JPEG", quality=THUMB_QUALITY)
        os.replace(part, thumb)
    except (OSError, ValueError, Image.DecompressionBombError):
        part.unlink(missing_ok=True)


def classify(exc: Exception, path: str) -> BatchgenErrorLike:
    """A store's error as ours: refused (credentials, permissions) stops the run; transient
    ones are retried; the rest fail the image (its generation stays paid for a rerun)."""
    text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    lowered = str(exc).lower()
    if any(word in lowered for word in _REFUSED):
        return SinkError(f"the bucket refused {path}: {text}")
    transient = any(word in lowered for word in _TRANSIENT)
    return DownloadError(f"upload of {path} failed: {text}", retryable=transient)


BatchgenErrorLike = SinkError | DownloadError


def open_store(url: str) -> Any:
    """The store for `url`; credentials, region and endpoint from the environment and the
    SDKs' usual chains (never from the manifest). The store's own retries are off."""
    try:
        from obstore.store import from_url  # noqa: PLC0415 - see BucketSink._put_once
    except ImportError as exc:
        raise SinkError(
            f"output.dir {url} needs the buckets extra: pip install 'batchgen[buckets]'"
        ) from exc
    try:
        return from_url(url, retry_config={"max_retries": 0})
    except Exception as exc:  # noqa: BLE001 - a bad URL or configuration, said plainly
        raise SinkError(f"cannot open {url}: {str(exc).splitlines()[0]}") from exc
