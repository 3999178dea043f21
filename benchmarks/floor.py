"""The floor under batchgen's CPU per image: the baseline's own cost plus the work every image
must get and the baseline skips, measured on the baseline's own files.

    python benchmarks/floor.py [--image-bytes small realistic] [--tasks 1000] [--rounds 3]
                               [--work /dev/shm/batchgen-bench]

Each round runs the baseline and batchgen in turn (overhead.py's measure), then times, on one
thread and with nothing else running, what batchgen must do to each of the baseline's files:
inflate its IDAT whole (libdeflate, one call: the fastest inflate found, round 6) and hash it
(sha256, the content hash index.jsonl records). No engine, however lean, spends less than the
baseline plus these, so "floor / baseline" is the smallest CPU ratio the whole-check allows;
"batchgen / floor" is the engine's own overhead above it; the event loop's thread is shown
apart (the rest is the worker threads: check, hash, writes). Medians of the rounds.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import deflate
import overhead
from common import emulator_process, machine

from batchgen.store import pngcheck

SAMPLE = 200  # files a round whose inherent work is timed
Item = TypeVar("Item")


def idat_of(data: bytes) -> tuple[bytes, int]:
    """The PNG's IDAT stream, joined, and the bytes it must inflate to."""
    pos, ihdr, parts = 8, b"", []
    while pos < len(data):
        length, kind = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        ihdr = body if kind == b"IHDR" else ihdr
        if kind == b"IDAT":
            parts.append(body)
        pos += 12 + length
    size = pngcheck.raw_size(ihdr)
    if size is None:
        raise SystemExit("the emulator's PNGs are expected to be non-interlaced")
    return b"".join(parts), size


def median_ms(items: Sequence[Item], work: Callable[[Item], object]) -> float:
    """Median thread CPU of `work` over the items, in ms (each once, after one warm-up)."""
    work(items[0])
    times = []
    for item in items:
        started = time.thread_time()
        work(item)
        times.append(time.thread_time() - started)
    return statistics.median(times) * 1000


def inherent(folder: Path) -> tuple[float, float]:
    """(inflate ms, sha256 ms) per file, over up to SAMPLE of the baseline's files."""
    files = [path.read_bytes() for path in sorted(folder.glob("*.png"))[:SAMPLE]]
    streams = [idat_of(data) for data in files]
    inflate_ms = median_ms(streams, lambda item: deflate.zlib_decompress(*item))
    sha_ms = median_ms(files, lambda data: hashlib.sha256(data).digest())
    return inflate_ms, sha_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-bytes", nargs="+", default=["small", "realistic"])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--work", type=Path, default=overhead.WORK)
    args = parser.parse_args()
    overhead.WORK = args.work
    print(f"machine: {machine()}")
    print(f"{args.tasks} tasks x {args.rounds} rounds, concurrency {args.concurrency}")
    for size in args.image_bytes:
        rows: dict[str, list[float]] = {
            name: [] for name in ("baseline", "inflate", "sha256", "batchgen", "loop", "base loop")
        }
        with emulator_process("--time-scale", "0", "--image-bytes", size) as url:
            for _ in range(args.rounds):
                for kind, loop in (("baseline", "base loop"), ("batchgen", "loop")):
                    timing = overhead.timed(kind, url, args.tasks, args.concurrency)
                    rows[kind].append(timing.cpu_s * 1000)
                    rows[loop].append(timing.loop_cpu_s * 1000)
                inflate_ms, sha_ms = inherent(args.work / "baseline" / "files")
                rows["inflate"].append(inflate_ms)
                rows["sha256"].append(sha_ms)
        show(size, {kind: statistics.median(values) for kind, values in rows.items()})


def show(size: str, ms: dict[str, float]) -> None:
    floor = ms["baseline"] + ms["inflate"] + ms["sha256"]
    base = ms["baseline"]
    print(f"\n{size} images: ms of CPU per image (medians of rounds)")
    print(f"  baseline (the hand-written client)      {base:6.2f}")
    print(f"  + inflate IDAT whole (libdeflate)        {ms['inflate']:6.2f}  the whole-check")
    print(f"  + sha256 of the file                     {ms['sha256']:6.2f}  index.jsonl's hash")
    print(
        f"  = floor                                  {floor:6.2f}  {floor / base:.2f}x the baseline"
    )
    print(
        f"  batchgen                                 {ms['batchgen']:6.2f}  "
        f"{ms['batchgen'] / base:.2f}x the baseline, {ms['batchgen'] / floor:.2f}x the floor"
    )
    print(
        f"  of which the event loop's thread         {ms['loop']:6.2f}  "
        f"(the baseline's, its file writes included: {ms['base loop']:.2f})"
    )


if __name__ == "__main__":
    main()
