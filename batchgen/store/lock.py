"""The run folder's lock: one batchgen run writes a folder at a time (flock; none on Windows)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from batchgen.errors import JournalError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; runs there are not locked
    fcntl = None  # type: ignore[assignment]


def take_lock(path: Path) -> Any:
    handle = open(path, "a+b")  # noqa: SIM115 - held for the journal's lifetime
    if fcntl is None:
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.close()
        raise JournalError(
            f"another batchgen run is using {path.parent} (pid lock {path.name}); "
            "wait for it or choose another --out"
        ) from exc
    handle.truncate(0)
    handle.write(str(os.getpid()).encode())
    handle.flush()
    return handle
