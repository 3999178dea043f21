"""The PNG whole-check's inflate, side by side: the baseline, batchgen holding IDAT and
inflating it in one call (the default), batchgen inflating as it streams (libdeflate off, as
before), and batchgen with the check off, in turn within each round of one process.

    python benchmarks/check_inflate.py [--image-bytes small] [--tasks 1000] [--rounds 5]
                                       [--work /dev/shm/batchgen-bench]

Prints overhead.py's report: medians of per-round ratios to the baseline (images/s, CPU per
image); "one-call" is batchgen as built, "streamed" the check as it was before.
Files go to --work (a tmpfs keeps ext4's create-after-delete cost out of both sides).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import overhead
from common import emulator_process, machine

from batchgen.store import pngcheck

KINDS = ("baseline", "one-call", "streamed", overhead.NO_CHECK)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-bytes", default="small")
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--work", type=Path, default=overhead.WORK)
    args = parser.parse_args()
    overhead.WORK = args.work
    print(f"machine: {machine()}")
    print(f"{args.image_bytes} images, {args.tasks} tasks x {args.rounds} rounds in {args.work}")
    rows: dict[str, list[tuple[float, float]]] = {kind: [] for kind in KINDS}
    libdeflate = pngcheck.deflate
    with emulator_process("--time-scale", "0", "--image-bytes", args.image_bytes) as url:
        overhead.measure("baseline", url, 50, args.concurrency)  # warm both sides up
        for _ in range(args.rounds):
            for kind in KINDS:
                pngcheck.deflate = None if kind == "streamed" else libdeflate
                run_as = "batchgen" if kind in ("one-call", "streamed") else kind
                rows[kind].append(overhead.measure(run_as, url, args.tasks, args.concurrency))
    pngcheck.deflate = libdeflate
    overhead.report(args.image_bytes, rows)


if __name__ == "__main__":
    main()
