"""Memory and scale: peak RSS of `batchgen plan` and `batchgen run` at 10k, 100k and 1M tasks,
and the time from start to the first request for the largest.

    python benchmarks/memory.py [--sizes 10000 100000 1000000] [--image-bytes small|30000]

Each command runs in its own process; its peak RSS is the kernel's (wait4's ru_maxrss). The
emulator answers at once with small images from its own process. Nothing is deleted while the
run renders (on ext4 a file created after many deletes costs up to 30x the kernel CPU: an
earlier sweeper that deleted files mid-run made the run look slow at scale); every file is
checked (every PNG chunk's CRC) after the run, then the run's folder is deleted. `--work` puts
the runs elsewhere (a tmpfs, or a disk with room: 1M small files are ~100 GB; `--image-bytes
30000`, the emulator's smallest, makes them ~30 GB). The harness
fails if any file is broken or any task missing. Goal: running 1M within 1.2x the RSS of 10k
(report included) and 0.9x its rate; first request within 0.3 s of the spawn.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import emulator_process, emulator_stats, fresh, machine, png_is_whole

WORK = Path("/tmp/batchgen-bench/memory")
SPAWN = multiprocessing.get_context("spawn")


def manifest(folder: Path, url: str, tasks: int) -> Path:
    side = math.gcd(tasks, 1000)  # a x b = tasks: 100 x 100, 1000 x 100, 1000 x 1000
    a_values = ", ".join(str(i) for i in range(side))
    b_values = ", ".join(str(i) for i in range(tasks // side))
    path = folder / "scale.yaml"
    path.write_text(
        "version: 1\nname: scale\n"
        f'provider: {{kind: emulator, base_url: "{url}"}}\n'
        "models: [google/imagen-4.0-fast-generate-001]\n"
        f'prompts: [{{template: "{{a}} x {{b}}", vars: {{a: [{a_values}], b: [{b_values}]}}}}]\n'
        "limits: {concurrency: 32}\n",
        encoding="utf-8",
    )
    return path


def peak_rss_mb(
    command: list[str], cwd: Path, on_start: threading.Event | None = None
) -> tuple[float, int, float]:
    """Peak RSS (MB), exit code and CPU seconds (user + system) of one command."""
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    if on_start is not None:
        on_start.set()
    _, status, usage = os.wait4(process.pid, 0)
    cpu = usage.ru_utime + usage.ru_stime
    return usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), cpu


def check_images(images: Path) -> tuple[int, int]:
    """(files, broken files) under `images`, read after the run."""
    checked = broken = 0
    for path in images.rglob("*.png"):
        checked += 1
        broken += not png_is_whole(path.read_bytes())
    return checked, broken


def first_request_at(url: str, started: threading.Event, result: list[float]) -> None:
    """Wall-clock time of the emulator's first generation request (polled every 5 ms)."""
    started.wait()
    while emulator_stats(url)["generation_requests"] == 0:
        time.sleep(0.005)
    result.append(time.time())


def run_started_at(folder: Path) -> float:
    with sqlite3.connect(folder / "out" / "scale" / "journal.sqlite") as db:
        return float(db.execute("SELECT MIN(started_at) FROM runs").fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--work", type=Path, default=WORK, help="where the runs go")
    parser.add_argument("--image-bytes", default="small", help="the emulator's image size")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"  {'tasks':>9} {'plan RSS MB':>11} {'run RSS MB':>10} {'run s':>7} {'images/s':>8} "
          f"{'CPU ms/task':>11} {'1st request after spawn s':>25} {'after run start s':>17}")  # fmt: skip
    for size in args.sizes:
        measure(size, args.work, args.image_bytes)


def measure(size: int, work: Path, image_bytes: str) -> None:
    folder = fresh(work / str(size))
    with emulator_process("--time-scale", "0", "--image-bytes", image_bytes) as url:
        path = manifest(folder, url, size)
        command = [sys.executable, "-m", "batchgen"]
        plan_rss, code, _ = peak_rss_mb([*command, "plan", str(path)], folder)
        assert code == 0, "plan failed"
        started, first = threading.Event(), list[float]()
        watcher = threading.Thread(target=first_request_at, args=(url, started, first), daemon=True)
        watcher.start()
        began, spawned = time.monotonic(), time.time()
        run_rss, code, cpu = peak_rss_mb([*command, "run", str(path)], folder, started)
        took = time.monotonic() - began
        watcher.join(timeout=5)
    # in a process of its own: a child's peak RSS (wait4) counts its parent's at the fork, so
    # this process must stay small (after checking 300k files it was 196 MB, and the next
    # size's plan and run "peaked" there)
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=SPAWN) as checker:
        checked, broken = checker.submit(check_images, folder / "out" / "scale" / "images").result()
    if code != 0 or checked != size or broken:
        raise SystemExit(f"BROKEN RUN: exit {code}, {checked} files of {size}, {broken} broken")
    after_spawn, after_start = first[0] - spawned, first[0] - run_started_at(folder)
    print(f"  {size:9,} {plan_rss:11.1f} {run_rss:10.1f} {took:7.1f} {size / took:8.1f} "
          f"{cpu / size * 1e3:11.2f} "
          f"{after_spawn:25.3f} {after_start:17.3f}", flush=True)  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)  # after the measurement, never during it


if __name__ == "__main__":
    main()
