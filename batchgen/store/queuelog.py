"""The queue log beside the journal: each request a queued provider (fal) accepted, as one line
appended with a single write(2), so a rerun after a kill reads the result of a request that was
already made (and billed when it completed) instead of submitting it again.

A line is (task id, model, the queue's URLs for the request). Opening the log keeps only the
lines of tasks the journal does not hold as done; the rest are history.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

from batchgen.store import linelog

QUEUE_LOG = "journal.queued"
Key = tuple[str, str]  # (task id, the provider's model name)
Urls = dict[str, str]


class QueueLog:
    """Appends accepted queue requests; `kept` are those a rerun may read instead of paying."""

    def __init__(self, path: Path, kept: Mapping[Key, Urls]) -> None:
        self.path = path
        self._kept = dict(kept)
        self._fd: int | None = None  # opened at the first request: most providers never queue

    def __repr__(self) -> str:
        return f"QueueLog({str(self.path)!r})"

    @classmethod
    def open(
        cls, run_dir: Path, *, done_among: Callable[[Sequence[str]], Collection[str]]
    ) -> QueueLog:
        """Read the log, drop the lines of done tasks (rewritten whole, then renamed over)."""
        path = run_dir / QUEUE_LOG
        kept = _read(path)
        done = set(done_among([task for task, _ in kept])) if kept else set()
        kept = {key: urls for key, urls in kept.items() if key[0] not in done}
        if done and path.exists():
            temp = path.with_name(path.name + ".tmp")
            temp.write_bytes(b"".join(linelog.line_of(_entry(*item)) for item in kept.items()))
            os.replace(temp, path)
        return cls(path, kept)

    @property
    def kept(self) -> Mapping[Key, Urls]:
        return self._kept

    @staticmethod
    def remove(run_dir: Path) -> None:
        """--fresh: forget every queued request with the journal."""
        (run_dir / QUEUE_LOG).unlink(missing_ok=True)

    def accepted(self, task_id: str, model: str, urls: Mapping[str, str]) -> None:
        """One write: when this returns, a kill of the process cannot lose the request."""
        if self._fd is None:
            self._fd = linelog.open_for_append(self.path)
        linelog.append_line(self._fd, _entry((task_id, model), dict(urls)))

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def _entry(key: Key, urls: Urls) -> list[object]:
    return [key[0], key[1], urls]


def _read(path: Path) -> dict[Key, Urls]:
    """The log's lines, later ones winning; a line cut by a kill (the last one) is skipped."""
    kept: dict[Key, Urls] = {}
    for value in linelog.read_lines(path):
        try:
            task_id, model, urls = value
        except (ValueError, TypeError):
            continue
        if isinstance(task_id, str) and isinstance(model, str) and isinstance(urls, dict):
            kept[(task_id, model)] = {str(k): str(v) for k, v in urls.items()}
    return kept
