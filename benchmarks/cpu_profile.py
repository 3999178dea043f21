"""Where batchgen's CPU per image goes: cProfile of the event-loop thread during one run, and the
PNG whole-check (worker threads) timed on its own line.

    python benchmarks/cpu_profile.py [--tasks 1000] [--image-bytes small] [--top 25] [--sort ncalls]

The emulator answers at once from its own process (as in overhead.py). Figures are per image:
the loop thread's CPU (`time.thread_time`), the process's (all threads), the whole-check's
(thread CPU inside PngCheck.feed), then the loop thread's functions by own time. The profiler
inflates Python-level calls; the order and the shares are what count.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import threading
import time
from collections.abc import Callable
from typing import Any

from common import emulator_process, fresh
from overhead import WORK, batchgen_run, manifest_for

from batchgen.store.pngcheck import PngCheck


class CheckClock:
    """Thread CPU spent inside PngCheck.feed, summed over the threads that ran it."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()
        self._feed: Callable[[PngCheck, bytes], None] = PngCheck.feed

    def __enter__(self) -> CheckClock:
        feed = self._feed

        def timed(check: PngCheck, data: bytes) -> None:
            started = time.thread_time()
            try:
                feed(check, data)
            finally:
                with self._lock:
                    self.seconds += time.thread_time() - started

        PngCheck.feed = timed  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        PngCheck.feed = self._feed  # type: ignore[method-assign,assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--image-bytes", default="small")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative", "ncalls"])
    args = parser.parse_args()
    with emulator_process("--time-scale", "0", "--image-bytes", args.image_bytes) as url:
        manifest = manifest_for(url, args.tasks, 16)
        out = fresh(WORK / "profile")
        profile = cProfile.Profile(time.thread_time)  # CPU, not wall: the machine is shared
        loop_cpu: dict[str, float] = {}

        async def profiled() -> None:
            started = time.thread_time()
            profile.enable()
            try:
                await batchgen_run(manifest, out)
            finally:
                profile.disable()
                loop_cpu["s"] = time.thread_time() - started

        with CheckClock() as check:
            process = time.process_time()
            asyncio.run(profiled())
            process = time.process_time() - process
    per = 1000 / args.tasks
    print(f"{args.tasks} {args.image_bytes} images, concurrency 16, ms of CPU per image:")
    print(f"  process (all threads)      {process * per:7.2f}")
    print(f"  event-loop thread          {loop_cpu['s'] * per:7.2f}  (under the profiler)")
    print(f"  PNG whole-check (threads)  {check.seconds * per:7.2f}")
    print(f"  other worker-thread work   {(process - loop_cpu['s'] - check.seconds) * per:7.2f}")
    stats: Any = pstats.Stats(profile)
    print("loop thread by area (own time, share of the profiled loop thread):")
    areas = by_area(stats)
    total = sum(areas.values())
    for area, seconds in sorted(areas.items(), key=lambda kv: -kv[1]):
        print(f"  {area:34} {100 * seconds / total:5.1f}%")
    print(f"loop thread, functions by {args.sort}:")
    stats.sort_stats(args.sort).print_stats(args.top)


AREAS = (  # (area, what its file name or built-in's name contains), first match wins
    ("journal: sqlite3 calls", "sqlite3"),
    ("batchgen: journal, run log", "batchgen/store/journal"),
    ("batchgen: journal, run log", "batchgen/store/paidlog"),
    ("batchgen: journal, run log", "batchgen/run/runlog"),
    ("batchgen: sink (staging, rename)", "batchgen/store/"),
    ("batchgen: naming files", "batchgen/expand"),
    ("batchgen: other", "batchgen/"),
    ("aiohttp, yarl, multidict", "aiohttp"),
    ("aiohttp, yarl, multidict", "yarl"),
    ("aiohttp, yarl, multidict", "multidict"),
    ("anyio, sniffio (scopes, threads, limiter)", "anyio"),
    ("anyio, sniffio (scopes, threads, limiter)", "sniffio"),
    ("anyio, sniffio (scopes, threads, limiter)", "aiolimiter"),
    ("file calls (open, write, replace, mkdir)", "posix."),
    ("file calls (open, write, replace, mkdir)", "io.open"),
    ("file calls (open, write, replace, mkdir)", "_io."),
    ("json", "json"),
    ("pathlib", "pathlib"),
    ("thread hand-offs", "_thread"),
    ("thread hand-offs", "threading"),
    ("thread hand-offs", "concurrent"),
    ("socket calls", "_socket"),
    ("event loop (asyncio, selectors)", "asyncio"),
    ("event loop (asyncio, selectors)", "selector"),
    ("event loop (asyncio, selectors)", "select."),
    ("event loop (asyncio, selectors)", "_contextvars"),
)


def by_area(stats: Any) -> dict[str, float]:
    """Own time summed by area (pstats keys are (file, line, function))."""
    areas: dict[str, float] = {}
    for (filename, _, function), row in stats.stats.items():
        where = f"{filename} {function}"
        area = next((name for name, part in AREAS if part in where), "other (builtins, stdlib)")
        areas[area] = areas.get(area, 0.0) + row[2]
    return areas


if __name__ == "__main__":
    main()
