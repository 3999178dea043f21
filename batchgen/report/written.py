"""The one way a report file is written: whole or not at all, and a full disk said in words."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from batchgen.errors import SinkError


@contextmanager
def written(path: Path) -> Iterator[Path]:
    """Write into `path`.part, renamed over `path` when whole. A failure (a full disk, a
    signal) leaves no .part behind, and an OSError becomes a SinkError that says what."""
    part = path.with_name(path.name + ".part")
    try:
        yield part
        os.replace(part, path)
    except BaseException as exc:
        part.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            why = "the disk is full" if full else exc.strerror or str(exc)
            raise SinkError(f"cannot write {path}: {why}") from exc
        raise


def write_text(path: Path, text: str) -> None:
    with written(path) as part:
        part.write_text(text, encoding="utf-8")
