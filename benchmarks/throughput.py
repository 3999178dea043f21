"""Throughput at the limit: achieved images/s against the ideal min(C / latency, rpm / 60) x n.

    python benchmarks/throughput.py                 # the rate-limited run, then the table
    python benchmarks/throughput.py --only limit    # Fast at the server's rate limit
    python benchmarks/throughput.py --only table    # Fast/Standard/Ultra at 1..256 in flight

Latencies are the emulator's Imagen profiles scaled by --time-scale (Fast ~5 s x 0.2 = ~1 s),
served from their own process. The ideal uses the mean request latency the run measured, so
the ratio shows how well the engine keeps its slots and its rate budget busy.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from common import (
    FAST,
    STANDARD,
    ULTRA,
    check_files,
    emulator_process,
    emulator_stats,
    fresh,
    machine,
    manifest_text,
    write_manifest,
)

from batchgen.manifest.load import load_manifest
from batchgen.run.job import RunOptions, run_job

WORK = Path("/tmp/batchgen-bench/throughput")


def run(
    url: str, model: str, count: int, *, concurrency: int, rpm: float | None, num_images: int = 1
) -> dict[str, Any]:
    out = fresh(WORK / "run")
    limits = f"concurrency: {concurrency}" + (f", requests_per_minute: {rpm}" if rpm else "")
    text = manifest_text(
        base_url=url, count=count, models=[model], limits=limits, extra=f"num_images: {num_images}"
    )
    manifest = load_manifest(write_manifest(WORK / "manifest", text))
    before = emulator_stats(url)
    # the engine's own wall time; report.html (thumbnails) is a fixed cost after the run
    job = asyncio.run(run_job(manifest, RunOptions(out=out, html=False)))
    wall = job.result.wall_s
    check_files(out / "images", count * num_images)
    after = emulator_stats(url)
    refused = after["responses"].get("429", 0) - before["responses"].get("429", 0)
    latency = job.summary.latency_s.request.mean
    if latency is None:  # None: no task was rendered (check_files has already said so)
        raise SystemExit("BROKEN RUN: no task rendered, no latency")
    ideal = min(concurrency / latency, (rpm or float("inf")) / 60) * num_images
    achieved = count * num_images / wall
    steady = steady_rate(out, latency) * num_images
    return {
        "steady": steady,
        "achieved": achieved,
        "ideal": ideal,
        "latency": latency,
        "refused": refused,
        "wall": wall,
    }


def steady_rate(run_dir: Path, latency: float) -> float:
    """Tasks/s finished between start + one latency and end - one latency: the steady state,
    without the ramp up and down that a short run's overall rate includes."""
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        start = db.execute("SELECT started_at FROM runs").fetchone()[0]
        ends = sorted(row[0] for row in db.execute("SELECT finished_at FROM tasks"))
    low, high = start + latency, ends[-1] - latency
    inside = sum(low <= end <= high for end in ends)
    return inside / (high - low) if high > low else float("nan")


def limit_run(args: argparse.Namespace) -> None:
    rpm = args.rpm
    print(f"\nFast at the server's rate limit: server rpm {rpm}, batchgen rpm {rpm}, "
          f"concurrency {args.concurrency}, {args.seconds} s")  # fmt: skip
    with emulator_process("--time-scale", str(args.time_scale), "--image-bytes", "small",
                          "--rpm", str(rpm)) as url:  # fmt: skip
        count = int(rpm / 60 * args.seconds)
        r = run(url, FAST, count, concurrency=args.concurrency, rpm=rpm, num_images=2)
    print(f"  {count} tasks x 2 images in {r['wall']:.1f} s; mean latency {r['latency']:.3f} s")
    print(
        f"  steady state {r['steady']:.2f} images/s of ideal {r['ideal']:.2f} = {r['steady'] / r['ideal']:.3f}"
    )
    print(f"  whole run {r['achieved']:.2f} images/s of ideal {r['ideal']:.2f} "
          f"= {r['achieved'] / r['ideal']:.3f} (goal >= 0.97); 429s: {r['refused']} (goal 0)")  # fmt: skip


def table(args: argparse.Namespace) -> None:
    print(
        f"\nConcurrency table (no rate limit; time scale {args.time_scale}; ~{args.seconds} s each)"
    )
    print(
        f"  {'model':38} {'C':>4} {'latency s':>9} {'ideal/s':>8} {'steady/s':>8} {'ratio':>6} {'whole run':>9}"
    )
    for model in (FAST, STANDARD, ULTRA):
        with emulator_process(
            "--time-scale", str(args.time_scale), "--image-bytes", "small"
        ) as url:
            for concurrency in args.levels:
                probe = run(url, model, max(concurrency, 8), concurrency=concurrency, rpm=None)
                # long enough for a steady window of several latencies between the ramps
                seconds = max(args.seconds, 8 * probe["latency"])
                count = max(int(probe["ideal"] * seconds), concurrency * 4)
                r = run(url, model, count, concurrency=concurrency, rpm=None)
                print(f"  {model:38} {concurrency:4} {r['latency']:9.3f} {r['ideal']:8.1f} "
                      f"{r['steady']:8.1f} {r['steady'] / r['ideal']:6.3f} {r['achieved'] / r['ideal']:9.3f}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["limit", "table"])
    parser.add_argument("--time-scale", type=float, default=0.2)
    parser.add_argument("--rpm", type=float, default=1200)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 4, 16, 64, 256])
    args = parser.parse_args()
    print(f"machine: {machine()}")
    if args.only in (None, "limit"):
        limit_run(args)
    if args.only in (None, "table"):
        args.seconds = min(args.seconds, 20)
        table(args)


if __name__ == "__main__":
    main()
