"""output.format webp on a GPT image model: asked of the model (its WebP written as it came,
only the 400 px variant encoded here) vs converted here (params.output_format: png makes the
model send PNG, which is decoded and encoded again). CPU per image of the run's own process and
the report's `process` phase, same concurrency, configurations alternated round after round.

    python benchmarks/model_format.py --tasks 20 --rounds 3

The emulator runs in its own process: the model's own encoding is not counted here, as a real
provider's is not.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

from common import emulator_process, fresh, machine, manifest_text, write_manifest

from batchgen.manifest.load import load_manifest
from batchgen.run.job import RunOptions, run_job

WORK = Path("/tmp/batchgen-bench/model-format")
CONCURRENCY = 8
OUTPUT = "output: {format: webp, quality: 80, sizes: [{width: 400}]}"
CONFIGS = {
    "asked of the model": OUTPUT,
    "converted here": OUTPUT + "\n" + " " * 8 + "params: {output_format: png}",  # dedented
}


def run(url: str, tasks: int, extra: str) -> dict[str, Any]:
    out = fresh(WORK / "state")
    text = manifest_text(
        base_url=url, count=tasks, models=["gpt-image-2"], limits=f"concurrency: {CONCURRENCY}",
        extra=extra,
    ).replace("kind: emulator,", "kind: emulator, dialect: openai,")  # fmt: skip
    manifest = load_manifest(write_manifest(WORK / "manifest", text))
    cpu = time.process_time()
    job = asyncio.run(run_job(manifest, RunOptions(out=out, html=False)))
    cpu = time.process_time() - cpu
    if job.result.status != "complete":
        raise SystemExit(f"BROKEN RUN: {job.result.status}")
    process = job.summary.latency_s.process
    return {
        "images_per_s": tasks / job.result.wall_s,
        "cpu_ms": 1000 * cpu / tasks,
        "process_p50_ms": 1000 * (process.p50 or 0.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--image-bytes", default="realistic")
    args = parser.parse_args()
    results: dict[str, list[dict[str, Any]]] = {key: [] for key in CONFIGS}
    with emulator_process("--time-scale", "0", "--image-bytes", args.image_bytes) as url:
        for round_no in range(args.rounds):
            for key, extra in CONFIGS.items():  # alternated: noise hits both alike
                figures = run(url, args.tasks, extra)
                results[key].append(figures)
                print(round_no, key, {k: round(v, 2) for k, v in figures.items()}, flush=True)
    print(machine())
    print(f"\n{args.tasks} tasks x 1 image, concurrency {CONCURRENCY}, median of {args.rounds}\n")
    print("| WebP original + 400 | images/s | CPU ms/image | process p50 ms |")
    print("|---|---:|---:|---:|")
    for key, rows in results.items():
        names = ("images_per_s", "cpu_ms", "process_p50_ms")
        cells = (statistics.median(row[name] for row in rows) for name in names)
        print(f"| {key} | " + " | ".join(f"{value:.1f}" for value in cells) + " |")
    asked, here = (results[key] for key in CONFIGS)
    ratios = [a["cpu_ms"] / h["cpu_ms"] for a, h in zip(asked, here, strict=True)]
    print(f"\nCPU per image, asked / converted, per round: {[round(r, 2) for r in ratios]}")


if __name__ == "__main__":
    main()
