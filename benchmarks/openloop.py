"""Open-loop latency: Poisson arrivals at a fixed offered load, latency from the intended send time.

    python benchmarks/openloop.py [--concurrency 32] [--seconds 20] [--loads 0.5 0.7 0.9 1.0 1.1]

A closed loop (send the next when one finishes) hides a stall: nothing is sent while the
engine is stuck, so nothing is measured as late (coordinated omission; wrk2, HdrHistogram).
Here tasks arrive on a Poisson schedule fixed in advance, each task's latency runs from when
it was due, and a stall shows up as the tail it is. Loads are fractions of the capacity
C / mean latency. Writes benchmarks/openloop.png when matplotlib is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

from common import (
    ROOT,
    check_files,
    emulator_process,
    fresh,
    machine,
    manifest_text,
    write_manifest,
)

from batchgen.expand import expand
from batchgen.manifest.load import load_manifest
from batchgen.models import Outcome, Task
from batchgen.report import stats as report
from batchgen.run.engine import Observer
from batchgen.run.job import RunOptions, run_job

WORK = Path("/tmp/batchgen-bench/openloop")
QUANTILES = (50, 90, 99, 99.9)


class Finishes(Observer):
    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    def finished(self, outcome: Outcome) -> None:
        self.at[outcome.task.id] = time.monotonic()


async def arrivals(tasks: list[Task], rate: float, due: dict[str, float]) -> AsyncIterator[Task]:
    """Yield each task at its Poisson-scheduled time; the schedule never waits for the engine."""
    rng = random.Random(7)
    when = time.monotonic()
    for task in tasks:
        when += rng.expovariate(rate)
        due[task.id] = when
        delay = when - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        yield task


def offer(url: str, rate: float, seconds: float, concurrency: int) -> list[float]:
    count = max(int(rate * seconds), 50)
    text = manifest_text(base_url=url, count=count, limits=f"concurrency: {concurrency}")
    manifest = load_manifest(write_manifest(WORK / "manifest", text))
    out = fresh(WORK / "run")
    due: dict[str, float] = {}
    finishes = Finishes()

    async def go() -> None:
        source = arrivals(list(expand(manifest)), rate, due)
        await run_job(dataclasses.replace(manifest), RunOptions(out=out), finishes, tasks=source)

    asyncio.run(go())
    check_files(out / "images", count)
    return sorted(finishes.at[task_id] - due[task_id] for task_id in due)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--time-scale", type=float, default=0.1)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--loads", type=float, nargs="+", default=[0.5, 0.7, 0.9, 1.0, 1.1])
    args = parser.parse_args()
    print(f"machine: {machine()}")
    rows = []
    with emulator_process("--time-scale", str(args.time_scale), "--image-bytes", "small") as url:
        warm = offer(url, 20, 5, args.concurrency)  # also measures the mean latency at low load
        capacity = args.concurrency / (sum(warm) / len(warm))
        print(f"C={args.concurrency}, mean latency at low load {sum(warm) / len(warm):.3f} s, "
              f"capacity ~{capacity:.1f} tasks/s")  # fmt: skip
        print(f"  {'load':>5} {'offered/s':>9} " + " ".join(f"{f'p{q}':>8}" for q in QUANTILES))
        for load in args.loads:
            latencies = offer(url, load * capacity, args.seconds, args.concurrency)
            cuts = [report.percentile(latencies, q) for q in QUANTILES]
            rows.append((load, cuts))
            print(f"  {load:5.2f} {load * capacity:9.1f} " + " ".join(f"{c:8.3f}" for c in cuts),
                  flush=True)  # fmt: skip
    plot(rows)


def plot(rows: list[tuple[float, list[float]]]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot)")
        return
    figure, axes = plt.subplots(figsize=(7, 4))
    for i, q in enumerate(QUANTILES):
        axes.plot(
            [load for load, _ in rows], [cuts[i] for _, cuts in rows], marker="o", label=f"p{q}"
        )
    axes.set(xlabel="offered load (fraction of capacity)", ylabel="latency from intended send (s)",
             yscale="log", title="batchgen open-loop latency, Imagen 4 Fast profile")  # fmt: skip
    axes.legend()
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(ROOT / "openloop.png", dpi=110)
    print(f"plot: {ROOT / 'openloop.png'}")


if __name__ == "__main__":
    main()
