"""Random loss: the emulator admits --capacity requests at once and also refuses --loss of all
requests with a 429 that does not depend on load. Adaptive concurrency (limits.concurrency
unset) against a fixed limit at the server's capacity, alternating in one run.

    python benchmarks/adaptive_loss.py [--capacity 32] [--loss 0.05] [--tasks 400] [--rounds 3]
        [--dialect aimlapi|gemini|openai] [--fault 429|busy]

aimlapi's 429s carry nothing that tells a stray from a capacity refusal, so there loss alone
must. With `--dialect gemini --fault busy` the strays are Vertex AI's shared-pool 429s (no quota
named) while capacity refusals name the project's quota, as the real service words them.

Each round runs the same job twice on one emulator process: adaptive, then fixed (the order
flips every round so a noisy neighbour hurts both alike). For each run: tasks/s, the share of
generation requests answered 429, and the mean in flight seen by the server. The figure to
quote is the median over rounds of adaptive/fixed tasks/s. Goal: >= 0.8.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
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

WORK = Path("/tmp/batchgen-bench/adaptive-loss")


async def sample(url: str, samples: list[int], done: asyncio.Event) -> None:
    while not done.is_set():
        samples.append(int((await asyncio.to_thread(emulator_stats, url))["in_flight"]))
        await asyncio.sleep(0.25)


async def one_run(
    url: str, tasks: int, concurrency: int | None, *, dialect: str, fault: str
) -> dict[str, Any]:
    limits = f"concurrency: {concurrency}" if concurrency else ""  # none: adaptive
    text = manifest_text(base_url=url, count=tasks, limits=limits)
    text = text.replace("kind: emulator,", f"kind: emulator, dialect: {dialect},")
    label = "adaptive" if concurrency is None else f"fixed-{concurrency}"
    manifest = load_manifest(write_manifest(WORK / label, text))
    out = fresh(WORK / f"{label}-run")
    before = emulator_stats(url)
    in_flight: list[int] = []
    done = asyncio.Event()
    sampler = asyncio.create_task(sample(url, in_flight, done))
    started = time.monotonic()
    job = await run_job(manifest, RunOptions(out=out, html=False))
    wall = time.monotonic() - started
    done.set()
    await sampler
    after = emulator_stats(url)
    check_files(out / "images", tasks)
    if job.summary.tasks.done != tasks:
        raise SystemExit(f"BROKEN RUN: {job.summary.tasks.done} of {tasks} tasks done")
    asked = after["generation_requests"] - before["generation_requests"]
    refused = after["responses"].get("429", 0) - before["responses"].get("429", 0)
    injected = after["faults_injected"].get(fault, 0) - before["faults_injected"].get(fault, 0)
    return {
        "label": label,
        "tasks_per_s": tasks / wall,
        "wall_s": wall,
        "share_429": refused / max(asked, 1),
        "load_429": (refused - injected) / max(asked, 1),  # refused for capacity, not at random
        "in_flight": statistics.fmean(in_flight) if in_flight else 0.0,
        "latency_s": job.summary.latency_s.request.mean,
    }


def print_row(round_: int, run: dict[str, Any], capacity: int) -> None:
    ideal = capacity / run["latency_s"]  # the server's capacity over its mean latency
    print(
        f"  {round_:5} {run['label']:>9} {run['wall_s']:7.1f} {run['tasks_per_s']:8.1f} "
        f"{run['tasks_per_s'] / ideal:8.3f} "
        f"{run['share_429']:9.2%} {run['load_429']:10.2%} {run['in_flight']:9.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=32)
    parser.add_argument("--loss", type=float, default=0.05)
    parser.add_argument("--tasks", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--time-scale", type=float, default=0.1)
    parser.add_argument("--dialect", choices=("aimlapi", "gemini", "openai"), default="aimlapi")
    parser.add_argument("--fault", choices=("429", "busy"), default="429")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(
        f"server capacity {args.capacity}, random 429s ({args.fault}) {args.loss:.0%}, "
        f"{args.dialect} dialect, "
        f"{args.tasks} tasks a run, time scale {args.time_scale}"
    )
    print(
        f"  {'round':>5} {'run':>9} {'wall s':>7} {'tasks/s':>8} {'of ideal':>8} {'429 share':>9} "
        f"{'load 429s':>10} {'in flight':>9}"
    )
    emulator_args = ["--time-scale", str(args.time_scale), "--image-bytes", "small"]
    emulator_args += [
        "--max-concurrency",
        str(args.capacity),
        "--faults",
        f"{args.fault}={args.loss}",
    ]
    ratios: list[float] = []
    with emulator_process(*emulator_args) as url:
        for index in range(args.rounds):
            order: list[int | None] = [None, args.capacity]
            runs = {}
            for concurrency in order if index % 2 == 0 else order[::-1]:
                options = {"dialect": args.dialect, "fault": args.fault}
                run = asyncio.run(one_run(url, args.tasks, concurrency, **options))
                print_row(index, run, args.capacity)
                runs[concurrency] = run
            ratios.append(runs[None]["tasks_per_s"] / runs[args.capacity]["tasks_per_s"])
    print(f"adaptive/fixed tasks/s per round: {', '.join(f'{r:.3f}' for r in ratios)}")
    print(f"median adaptive/fixed: {statistics.median(ratios):.3f} (goal >= 0.8)")


if __name__ == "__main__":
    main()
