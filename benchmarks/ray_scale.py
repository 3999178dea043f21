"""batchgen on Ray (issue 16): images/s of the single-process engine against --executor ray with
1, 2 and 4 workers, at a CPU-bound setting (WebP 400/1200 px derivatives of ~1.5 MB PNGs) and at
a key-bound one (the server's and batchgen's rpm limit), same job, same emulator.

    python benchmarks/ray_scale.py --cpu-tasks 24 --key-tasks 40 --rounds 2

The emulator runs in its own process (zero latency); the output is the local disk. One local Ray
(num_cpus 4) is started once and shared by every Ray run; its start is reported apart. Each run's
wall time includes starting its worker actors (the price of every Ray run). Configurations run in
turn, round after round; the table gives medians, and ratios to the single process of the same
round. The machine is shared: read the ratios, not the absolute figures.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import anyio
from common import check_files, emulator_process, fresh, machine, manifest_text, write_manifest

from batchgen.cluster.driver import ClusterOptions, run_on_ray
from batchgen.manifest.load import load_manifest
from batchgen.run.job import JobResult, RunOptions, run_job

WORK = Path("/tmp/batchgen-bench/ray")
WEBP = "output: {format: webp, quality: 80, sizes: [{width: 400}, {width: 1200}]}"
KEY_RPM = 120  # 2 starts a second: the key's limit, told to batchgen and enforced by the server
CONFIGS = ("single", "ray 1", "ray 2", "ray 4")


def run_once(config: str, manifest_path: Path) -> JobResult:
    manifest = load_manifest(manifest_path)
    options = RunOptions(out=fresh(WORK / "out"), html=False)
    if config == "single":
        return anyio.run(run_job, manifest, options, backend="asyncio")
    workers = int(config.split()[1])
    return run_on_ray(manifest, options, ClusterOptions(workers=workers))


def setting(
    name: str, tasks: int, emulator_args: list[str], limits: str, extra: str
) -> Callable[[str], tuple[float, float]]:
    """A function running one configuration of the setting, giving its images/s."""

    def measure(config: str) -> tuple[float, float]:
        with emulator_process(*emulator_args) as url:
            text = manifest_text(base_url=url, count=tasks, limits=limits, extra=extra)
            path = write_manifest(WORK / name, text)
            job = run_once(config, path)
        if job.result.done != tasks:
            raise SystemExit(f"BROKEN RUN: {name} {config}: {job.result}")
        expected = tasks * (3 if extra else 1)  # WebP: the original and two sizes
        if not extra:
            check_files(WORK / "out" / "images", expected)
        elif sum(1 for _ in (WORK / "out" / "images").rglob("*.webp")) != expected:
            raise SystemExit(f"BROKEN RUN: {name} {config}: not {expected} WebP files")
        return tasks / job.result.wall_s, tasks / busy_s(WORK / "out")

    return measure


def busy_s(run_dir: Path) -> float:
    """From the first task's start to the last one's end: the run without its start-up (the
    Ray workers' start, the emulator's first answer)."""
    with sqlite3.connect(run_dir / "journal.sqlite") as conn:
        first, last = conn.execute("SELECT MIN(started_at), MAX(finished_at) FROM tasks").fetchone()
    return float(last - first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-tasks", type=int, default=24)
    parser.add_argument("--key-tasks", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    logging.getLogger("ray").setLevel(logging.ERROR)
    import ray  # noqa: PLC0415 - the ray extra

    started = time.monotonic()
    ray.init(
        num_cpus=4,
        include_dashboard=False,
        namespace="batchgen",
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    ray_start_s = time.monotonic() - started
    settings = {
        "cpu": setting(
            "cpu",
            args.cpu_tasks,
            ["--time-scale", "0", "--image-bytes", "realistic"],
            "concurrency: 16",
            WEBP,
        ),
        "key": setting(
            "key",
            args.key_tasks,
            ["--time-scale", "0", "--image-bytes", "small", "--rpm", str(KEY_RPM)],
            f"concurrency: 16, requests_per_minute: {KEY_RPM}",
            "",
        ),
    }
    rates: dict[tuple[str, str], list[tuple[float, float]]] = {}
    ratios: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for round_no in range(args.rounds):
        for name, measure in settings.items():
            single = (1.0, 1.0)
            for config in CONFIGS:
                whole, busy = measure(config)
                single = (whole, busy) if config == "single" else single
                rates.setdefault((name, config), []).append((whole, busy))
                ratios.setdefault((name, config), []).append((whole / single[0], busy / single[1]))
                print(
                    f"round {round_no + 1} {name:3} {config:6}: {whole:6.2f} images/s, {busy:6.2f} once started",
                    flush=True,
                )
    ray.shutdown()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"\n{machine()}; Ray {ray.__version__} started in {ray_start_s:.1f} s; {load}\n")
    print(
        "| setting | executor | tasks/s, whole run | x single | tasks/s once started | x single |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for (name, config), values in rates.items():
        label = "WebP 400/1200 derivatives" if name == "cpu" else f"key-bound, {KEY_RPM} rpm"
        whole, busy = (statistics.median(v[i] for v in values) for i in (0, 1))
        x_whole, x_busy = (statistics.median(r[i] for r in ratios[(name, config)]) for i in (0, 1))
        print(f"| {label} | {config} | {whole:.2f} | {x_whole:.2f}x | {busy:.2f} | {x_busy:.2f}x |")


if __name__ == "__main__":
    main()
