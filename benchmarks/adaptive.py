"""Unknown limits: the emulator enforces a concurrency limit batchgen is not told; adaptive
concurrency (limits.concurrency unset) has to find it, and find it again when it changes.

    python benchmarks/adaptive.py [--capacity 32] [--phase-seconds 20]

Three phases: the server admits --capacity requests at once, then half of that, then all of
it again. For each phase: achieved tasks/s against the capacity's ideal (capacity / mean
latency) and the share of requests answered 429. Goal: >= 0.9 of capacity, <= 2% 429s, and
recovery after the capacity returns.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from common import (
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

WORK = Path("/tmp/batchgen-bench/adaptive")


def set_capacity(url: str, limit: int) -> None:
    body = json.dumps({"max_concurrency": limit}).encode()
    request = urllib.request.Request(f"{url}/_emulator/limits", data=body, method="PUT")
    with urllib.request.urlopen(request, timeout=10):
        pass


async def phases(
    url: str, capacities: list[int], seconds: float, samples: list[dict[str, Any]]
) -> None:
    """Change the server's capacity at each phase boundary; sample its counters meanwhile."""
    started = time.monotonic()
    for index, capacity in enumerate(capacities):
        set_capacity(url, capacity)
        end = started + seconds * (index + 1)
        while (now := time.monotonic()) < end:
            stats = await asyncio.to_thread(emulator_stats, url)
            samples.append({"t": now - started, "phase": index, "capacity": capacity, **stats})
            await asyncio.sleep(0.5)


async def run(
    url: str, count: int, capacities: list[int], seconds: float
) -> tuple[list[dict[str, Any]], Any]:
    text = manifest_text(base_url=url, count=count, limits="")  # no concurrency: adaptive
    manifest = load_manifest(write_manifest(WORK / "manifest", text))
    out = fresh(WORK / "run")
    samples: list[dict[str, Any]] = []
    job_task = asyncio.create_task(run_job(manifest, RunOptions(out=out)))
    await phases(url, capacities, seconds, samples)
    job = await job_task
    check_files(out / "images", count)
    return samples, job


def summarise(samples: list[dict[str, Any]], latency: float, seconds: float) -> None:
    print(
        f"  {'phase':>5} {'capacity':>8} {'ideal/s':>8} {'achieved/s':>10} {'ratio':>6} {'429 share':>9} {'in flight':>9} {'settled in':>10}"
    )
    for phase in sorted({s["phase"] for s in samples}):
        rows = [s for s in samples if s["phase"] == phase]
        steady = [s for s in rows if s["t"] >= rows[0]["t"] + seconds / 4]  # after settling
        first, last = steady[0], steady[-1]
        span = last["t"] - first["t"]
        ok = (
            last["responses"].get("200", 0)
            - first["responses"].get("200", 0)
            - (last["downloads"] - first["downloads"])
        )
        refused = last["responses"].get("429", 0) - first["responses"].get("429", 0)
        ideal = rows[0]["capacity"] / latency
        achieved = ok / span
        print(
            f"  {phase:5} {rows[0]['capacity']:8} {ideal:8.1f} {achieved:10.1f} {achieved / ideal:6.3f} "
            f"{refused / max(ok + refused, 1):9.2%} {sum(s['in_flight'] for s in steady) / len(steady):9.1f} "
            f"{settled(rows):>10}"
        )


def settled(rows: list[dict[str, Any]]) -> str:
    """Seconds from the capacity change until the server saw >= 90% of it in use, and kept it."""
    capacity, start = rows[0]["capacity"], rows[0]["t"]
    for i, row in enumerate(rows):
        if all(later["in_flight"] >= 0.9 * capacity for later in rows[i : i + 4]):
            return f"{row['t'] - start:.1f} s"
    return "never"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=32)
    parser.add_argument("--phase-seconds", type=float, default=20)
    parser.add_argument("--time-scale", type=float, default=0.1)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    capacities = [args.capacity, args.capacity // 2, args.capacity]
    with emulator_process("--time-scale", str(args.time_scale), "--image-bytes", "small") as url:
        latency = 5.0 * args.time_scale  # Fast's profile mean; checked against the run below
        count = int(
            sum(capacities) / latency * args.phase_seconds * 1.1
        )  # outlasts the phases a little
        samples, job = asyncio.run(run(url, count, capacities, args.phase_seconds))
    measured = job.summary.latency_s.request.mean
    print(
        f"server capacity {capacities} over {args.phase_seconds:.0f} s phases; batchgen not told; "
        f"mean request latency {measured:.3f} s; {job.summary.tasks.done} tasks"
    )
    summarise(samples, measured, args.phase_seconds)


if __name__ == "__main__":
    main()
