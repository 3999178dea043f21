"""The PNG whole-check's inflate step, side by side: the baseline, batchgen at each step, and
batchgen with the check off, in turn within each round of one process.

    python benchmarks/check_step.py [--image-bytes small] [--tasks 600] [--rounds 5]
                                    [--steps 1048576 262144]

Prints medians of per-round ratios to the baseline (images/s, CPU per image), as overhead.py.
"""

from __future__ import annotations

import argparse
import statistics

import overhead
from common import emulator_process, machine

from batchgen.store import pngcheck


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-bytes", default="small")
    parser.add_argument("--tasks", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--steps", type=int, nargs="+", default=[1 << 20, 1 << 18])
    args = parser.parse_args()
    print(f"machine: {machine()}")
    kinds = ["baseline", *(f"step {step}" for step in args.steps), overhead.NO_CHECK]
    rows: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
    with emulator_process("--time-scale", "0", "--image-bytes", args.image_bytes) as url:
        overhead.measure("baseline", url, 50, args.concurrency)  # warm both sides up
        for _ in range(args.rounds):
            for kind in kinds:
                if kind.startswith("step "):
                    pngcheck.INFLATE_STEP = int(kind.split()[1])
                    run_as = "batchgen"
                else:
                    run_as = kind
                rows[kind].append(overhead.measure(run_as, url, args.tasks, args.concurrency))
    base = rows["baseline"]
    for kind in kinds[1:]:
        ips = statistics.median(a[0] / b[0] for a, b in zip(rows[kind], base, strict=True))
        cpu = statistics.median(a[1] / b[1] for a, b in zip(rows[kind], base, strict=True))
        ms = statistics.median(a[1] for a in rows[kind]) * 1e3
        print(f"  {kind:>14}: {ips:.2f}x images/s, {cpu:.2f}x CPU per image ({ms:.2f} ms)")


if __name__ == "__main__":
    main()
