"""Catalog jobs at scale: peak RSS of `batchgen plan` and of the first minute of `batchgen run` on
a CSV of 10k and 1M rows (one prompt per row, ids by SKU).

    python benchmarks/rows.py [--sizes 10000 1000000] [--seconds 60]

Each command runs in its own process; its peak RSS is the kernel's (wait4's ru_maxrss). `plan`
validates the whole file (one streaming pass: cells, duplicate ids, counts); `run` does the same
pass, then renders for --seconds from when its journal appears (the run began), then gets SIGINT and
stops as a user's Ctrl-C would (report written, exit 130). The emulator answers at once with
small images; finished files are checked and deleted as memory.py does. Goal: 1M within 1.2x of
10k for both commands.
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import emulator_process, fresh, machine
from memory import Sweeper

WORK = Path("/tmp/batchgen-bench/rows")
COLORS = ("red", "green", "blue", "black", "white", "sage", "olive", "brass")


def write_catalog(folder: Path, rows: int) -> Path:
    path = folder / "products.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(("sku", "name", "color", "category"))
        for i in range(rows):
            writer.writerow((f"SKU-{i:07d}", f"product number {i}", COLORS[i % 8], f"c{i % 50}"))
    return path


def write_manifest(folder: Path, url: str) -> Path:
    path = folder / "catalog.yaml"
    path.write_text(
        "version: 1\nname: catalog\n"
        f'provider: {{kind: emulator, base_url: "{url}"}}\n'
        "models: [google/imagen-4.0-fast-generate-001]\n"
        "prompts:\n"
        '  - template: "Studio photo of a {color} {name}"\n'
        "    rows: {csv: products.csv, id_column: sku}\n"
        "limits: {concurrency: 32}\n"
        'output: {filename: "{category}/{sku}-{index}.{ext}"}\n',
        encoding="utf-8",
    )
    return path


def peak_rss(
    command: list[str], cwd: Path, stop_after_s: float | None = None, journal: Path | None = None
) -> tuple[float, int, float, float]:
    """Peak RSS (MB), exit code, seconds in all and seconds until `journal` appeared (the run
    began: the manifest was validated); SIGINT `stop_after_s` after that."""
    began = time.monotonic()
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    started: list[float] = []
    if stop_after_s is not None and journal is not None:
        watcher = threading.Thread(
            target=_stop_later, args=(process, journal, stop_after_s, began, started), daemon=True
        )
        watcher.start()
    _, status, usage = os.wait4(process.pid, 0)
    took = time.monotonic() - began
    return usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), took, (started or [took])[0]


def _stop_later(
    process: subprocess.Popen[bytes], journal: Path, after_s: float, began: float, out: list[float]
) -> None:
    while not journal.exists() and process.poll() is None:
        time.sleep(0.05)
    out.append(time.monotonic() - began)
    time.sleep(after_s)
    if process.poll() is None:
        process.send_signal(signal.SIGINT)


def measure(size: int, seconds: float) -> None:
    folder = fresh(WORK / str(size))
    write_catalog(folder, size)
    command = [sys.executable, "-m", "batchgen"]
    with emulator_process("--time-scale", "0", "--image-bytes", "small") as url:
        path = write_manifest(folder, url)
        plan_rss, code, plan_s, _ = peak_rss([*command, "plan", str(path)], folder)
        assert code == 0, "plan failed"
        sweeper = Sweeper(folder / "out" / "catalog" / "images")
        sweeper.start()
        journal = folder / "out" / "catalog" / "journal.sqlite"
        run_rss, code, run_s, start_s = peak_rss(
            [*command, "run", str(path)], folder, seconds, journal
        )
        sweeper.done.set()
        sweeper.join()
    if code not in (0, 130) or sweeper.broken:
        raise SystemExit(f"BROKEN RUN: exit {code}, {sweeper.broken} broken files")
    print(
        f"  {size:9,} {plan_rss:11.1f} {plan_s:7.1f} {run_rss:10.1f} {start_s:9.1f} {run_s:7.1f} "
        f"{sweeper.checked:12,}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"  {'rows':>9} {'plan RSS MB':>11} {'plan s':>7} {'run RSS MB':>10} {'started s':>9} {'run s':>7} "
          f"{'images made':>12}")  # fmt: skip
    for size in args.sizes:
        measure(size, args.seconds)


if __name__ == "__main__":
    main()
