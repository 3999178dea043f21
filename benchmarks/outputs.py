"""Outputs where the business uses them: images/s and CPU per image for PNG pass-through vs
WebP 400/1200 px derivatives, to the local disk vs an S3 server (moto), same concurrency.

    python benchmarks/outputs.py --tasks 200 --rounds 3

The emulator (zero latency) and moto run in their own processes, so the CPU counted is the
run's own (every thread of this process: the event loop and the encoder pool). Configurations
are run in turn, round after round, and the medians reported: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import emulator_process, fresh, machine, manifest_text, write_manifest

from batchgen.manifest.load import load_manifest
from batchgen.run.job import RunOptions, run_job

WORK = Path("/tmp/batchgen-bench/outputs")
CONCURRENCY = 16
WEBP = "format: webp, quality: 80, sizes: [{width: 400}, {width: 1200}]"
CONFIGS = {
    ("local", "png"): "output: {}",
    ("local", "webp"): f"output: {{{WEBP}}}",
    ("s3", "png"): 'output: {dir: "s3://bench/{name}"}',
    ("s3", "webp"): f'output: {{dir: "s3://bench/{{name}}", {WEBP}}}',
}


@contextmanager
def moto_process() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = ["moto_server", "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def bucket(url: str) -> None:
    import boto3  # noqa: PLC0415 - moto's dependency, only for making the bucket

    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench-secret",
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL=url,
        AWS_ALLOW_HTTP="true",
    )
    boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket="bench")


def run(url: str, tasks: int, output: str, round_no: int) -> dict[str, Any]:
    out = fresh(WORK / "state")
    text = manifest_text(
        base_url=url, count=tasks, limits=f"concurrency: {CONCURRENCY}", extra=output
    )
    # a new name per round: the bucket keeps the last round's objects
    text = text.replace("name: bench", f"name: bench{round_no}")
    manifest = load_manifest(write_manifest(WORK / "manifest", text))
    cpu = time.process_time()
    job = asyncio.run(run_job(manifest, RunOptions(out=out, html=False)))
    cpu = time.process_time() - cpu
    if job.result.status != "complete":
        raise SystemExit(f"BROKEN RUN: {job.result.status}")
    return {"images_per_s": tasks / job.result.wall_s, "cpu_ms": 1000 * cpu / tasks}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--image-bytes", default="realistic")
    args = parser.parse_args()
    results: dict[tuple[str, str], list[dict[str, Any]]] = {key: [] for key in CONFIGS}
    with (
        emulator_process("--time-scale", "0", "--image-bytes", args.image_bytes) as url,
        moto_process() as s3,
    ):
        bucket(s3)
        for round_no in range(args.rounds):
            for key, output in CONFIGS.items():  # alternated: noise hits every config alike
                figures = run(url, args.tasks, output, round_no)
                results[key].append(figures)
                print(round_no, key, {k: round(v, 2) for k, v in figures.items()}, flush=True)
    print(machine())
    print(f"\n{args.tasks} tasks x 1 image, concurrency {CONCURRENCY}, median of {args.rounds}\n")
    print("| sink | output | images/s | CPU ms/image |")
    print("|---|---|---:|---:|")
    for (sink, fmt), rows in results.items():
        rate = statistics.median(r["images_per_s"] for r in rows)
        cpu = statistics.median(r["cpu_ms"] for r in rows)
        label = "PNG pass-through" if fmt == "png" else "WebP original + 400 + 1200"
        print(f"| {sink} | {label} | {rate:.1f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
