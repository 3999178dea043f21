"""Engine overhead: batchgen against a minimal aiohttp baseline; same tasks, same process, in turn.

    python benchmarks/overhead.py [--tasks 2000] [--concurrency 16] [--rounds 3] [--whole]
                                  [--without-check]

The emulator answers at once (time_scale 0) from its own process, so only the client's CPU is
counted. Goal: batchgen >= 0.9x the baseline's images/s and <= 1.2x its CPU seconds per image.
Ratios are medians of per-round pairs (each round runs both, in turn), so load from other work
on the machine falls on both sides. `--whole` also times whole processes: `batchgen run` (with
its report.html) against the baseline in a fresh interpreter, CPU from start-up to exit, with
compiled modules cached as in an install (one uncounted run of each fills the cache first).
`--without-check` adds a third run per round with the PNG whole-check switched off in this
process only (a measurement, to show the engine's own overhead; batchgen has no such option).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from common import (
    FAST,
    ROOT,
    check_files,
    emulator_process,
    fresh,
    installed_env,
    machine,
    manifest_text,
    write_manifest,
)

from batchgen.manifest.load import load_manifest
from batchgen.models import Manifest
from batchgen.report.files import rebuild_reports
from batchgen.run.job import RunOptions, run_job
from batchgen.store.pngcheck import PngCheck

WORK = Path("/tmp/batchgen-bench/overhead")
NO_CHECK = "no-check"  # batchgen with the PNG whole-check off (--without-check)


async def baseline(url: str, count: int, concurrency: int, out: Path) -> None:
    """What a careful hand-written script does: POST, parse, GET the URL, write the file."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            body = {
                "model": FAST,
                "prompt": f"Benchmark frame {n}",
                "num_images": 1,
                "aspect_ratio": "1:1",
            }
            async with session.post(f"{url}/v1/images/generations", json=body) as response:
                answer = await response.json()
            async with session.get(answer["data"][0]["url"]) as response:
                data = await response.read()
            (out / f"{n}.png").write_bytes(data)

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))


def manifest_for(url: str, count: int, concurrency: int) -> Manifest:
    text = manifest_text(base_url=url, count=count, limits=f"concurrency: {concurrency}")
    return load_manifest(write_manifest(WORK / "manifest", text))


async def batchgen_run(manifest: Manifest, out: Path) -> None:
    # report.html is a fixed cost per run (400 thumbnails at most), measured on its own below
    job = await run_job(manifest, RunOptions(out=out, html=False))
    if job.result.done != job.summary.tasks.planned:
        raise SystemExit(
            f"BROKEN RUN: batchgen rendered {job.result.done} of {job.summary.tasks.planned}"
        )


@contextmanager
def png_check_off(off: bool) -> Iterator[None]:
    """The PNG whole-check (inflating every IDAT) skipped, for the "without check" figure."""
    if not off:
        yield
        return
    feed, problem = PngCheck.feed, PngCheck.problem
    PngCheck.feed = lambda self, data: None  # type: ignore[method-assign]
    PngCheck.problem = lambda self: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        PngCheck.feed, PngCheck.problem = feed, problem  # type: ignore[method-assign]


@dataclass(frozen=True)
class Timing:
    """One run: images/s, and CPU seconds per image in all threads and in the loop's alone."""

    images_per_s: float
    cpu_s: float
    loop_cpu_s: float


def measure(kind: str, url: str, count: int, concurrency: int) -> tuple[float, float]:
    """images/s and CPU seconds per image of one run (the manifest is read before the clock)."""
    timing = timed(kind, url, count, concurrency)
    return timing.images_per_s, timing.cpu_s


def timed(kind: str, url: str, count: int, concurrency: int) -> Timing:
    out = fresh(WORK / kind)
    manifest = manifest_for(url, count, concurrency)
    if kind == "baseline":
        (out / "files").mkdir()
        work = baseline(url, count, concurrency, out / "files")
    else:
        work = batchgen_run(manifest, out)
    with png_check_off(kind == NO_CHECK):
        wall, cpu, loop = time.perf_counter(), time.process_time(), time.thread_time()
        asyncio.run(work)  # the event loop runs on this thread
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        loop = time.thread_time() - loop
    check_files(out, count)
    return Timing(count / wall, cpu / count, loop / count)


def whole(kind: str, url: str, count: int, concurrency: int) -> float:
    """CPU seconds of a whole process (interpreter, imports, run, report) for `count` tasks."""
    out = fresh(WORK / f"whole-{kind}")
    path = WORK / "manifest" / "bench.yaml"
    manifest_for(url, count, concurrency)
    if kind == "baseline":
        (out / "files").mkdir()
        command = [sys.executable, __file__, "--child", url, str(count), str(out / "files")]
    else:
        command = [sys.executable, "-m", "batchgen", "run", str(path), "--out", str(out), "-q"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, cwd=ROOT, env=_child_env())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    check_files(out if kind == "batchgen" else out / "files", count)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _child_env() -> dict[str, str]:
    return {**installed_env(WORK / "pycache"), "PYTHONPATH": _path()}


def _path() -> str:
    here = str(Path(__file__).resolve().parent)
    return os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)


def report_cost() -> float:
    """Seconds to write report.html for the last batchgen run (thumbnails made from scratch)."""
    run_dir = WORK / "batchgen"
    shutil.rmtree(run_dir / "thumbs", ignore_errors=True)
    started = time.perf_counter()
    rebuild_reports(run_dir)
    return time.perf_counter() - started


def main() -> None:
    global WORK  # noqa: PLW0603 - measure() and whole() read it
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--image-bytes", nargs="+", default=["small", "realistic"])
    parser.add_argument("--whole", action="store_true", help="also time whole processes")
    parser.add_argument(
        "--without-check", action="store_true", help="also batchgen with the PNG check off"
    )
    parser.add_argument(
        "--work", type=Path, default=WORK, help="where the files go (a tmpfs: less kernel noise)"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    WORK = args.work
    if args.child:  # the baseline as a process of its own, for --whole
        url, count, out = args.child
        asyncio.run(baseline(url, int(count), args.concurrency, Path(out)))
        return
    print(f"machine: {machine()}")
    print(f"{args.tasks} tasks, concurrency {args.concurrency}, {args.rounds} rounds")
    for size in args.image_bytes:
        with emulator_process("--time-scale", "0", "--image-bytes", size) as url:
            kinds = ("baseline", "batchgen", *((NO_CHECK,) if args.without_check else ()))
            results: dict[str, list[tuple[float, float]]] = {k: [] for k in kinds}
            processes: dict[str, list[float]] = {"baseline": [], "batchgen": []}
            if args.whole:  # one round not counted: it fills the compiled-module cache
                for kind in processes:
                    whole(kind, url, 10, args.concurrency)
            for _ in range(args.rounds):
                for kind in kinds:
                    results[kind].append(measure(kind, url, args.tasks, args.concurrency))
                    if args.whole and kind != NO_CHECK:
                        processes[kind].append(whole(kind, url, args.tasks, args.concurrency))
        report(size, results)
        if args.whole:
            report_whole(processes)
        print(
            f"  report.html for that run, thumbnails from scratch: {report_cost():.2f} s (once per run)"
        )


def report(size: str, results: dict[str, list[tuple[float, float]]]) -> None:
    rate = {k: statistics.median(r for r, _ in v) for k, v in results.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in results.items()}
    print(f"\n{size} images (median of rounds)")
    print(f"  {'':9} {'images/s':>9} {'CPU ms/image':>13}")
    for kind in results:
        print(f"  {kind:9} {rate[kind]:9.1f} {cpu[kind] * 1000:13.2f}")
    for kind in (k for k in results if k != "baseline"):
        pairs = list(zip(results["baseline"], results[kind], strict=True))
        speed = statistics.median(b[0] / a[0] for a, b in pairs)
        cost = statistics.median(b[1] / a[1] for a, b in pairs)
        print(f"  {kind:9} / baseline: {speed:.2f}x images/s, {cost:.2f}x CPU per image")
    print("  (medians of per-round ratios; goal >= 0.90x images/s, <= 1.20x CPU)")


def report_whole(processes: dict[str, list[float]]) -> None:
    pairs = list(zip(processes["baseline"], processes["batchgen"], strict=True))
    for kind in ("baseline", "batchgen"):
        print(f"  whole process, {kind}: {statistics.median(processes[kind]):.2f} s CPU")
    ratio = statistics.median(b / a for a, b in pairs)
    print(f"  whole process ratio: {ratio:.2f}x CPU (median of per-round ratios; goal <= 1.5x)")


if __name__ == "__main__":
    main()
