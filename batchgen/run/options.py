"""How a run is asked for: the command line's overrides of the manifest and the run's behaviour.
Light on purpose: `batchgen plan` and library callers build these without loading the engine."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from batchgen.models import Manifest

DEFAULT_GRACE_S = 30.0  # how long a stop waits for requests in flight (then they are cancelled)
DEFAULT_POLL_S = 30.0  # the batch APIs promise 24 h; polling faster only spends requests


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Command-line overrides of the manifest, and how the run behaves. `out` may be a str."""

    out: Path | str | None = None
    state: Path | str | None = None  # the local run directory when images go to a bucket (= out)
    concurrency: int | None = None
    requests_per_minute: float | None = None
    max_usd: float | None = None
    fresh: bool = False
    grace_s: float = DEFAULT_GRACE_S
    handle_signals: bool = False
    wait_scale: float = 1.0  # scales retry waits; tests and soak runs turn it down
    html: bool = True  # report.html (thumbnails: seconds per run); `batchgen report` makes it later
    mode: str | None = None  # "live" or "batch": overrides the manifest's mode
    batch_poll_s: float = DEFAULT_POLL_S  # how often batches in flight are asked how they are

    def __post_init__(self) -> None:
        for name in ("out", "state"):  # "out/nb2" from a notebook
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(os.fspath(value)))


def with_overrides(manifest: Manifest, options: RunOptions) -> Manifest:
    limits = manifest.limits
    if options.concurrency is not None:
        limits = dataclasses.replace(limits, concurrency=options.concurrency)
    if options.requests_per_minute is not None:
        limits = dataclasses.replace(limits, requests_per_minute=options.requests_per_minute)
    max_usd = options.max_usd if options.max_usd is not None else manifest.max_usd
    mode = options.mode or manifest.mode
    return dataclasses.replace(manifest, limits=limits, max_usd=max_usd, mode=mode)
