"""Cold start: seconds from spawning `batchgen run jobs/demo.yaml` to its first request.

    python benchmarks/coldstart.py [--rounds 5]

The child is the real CLI in a fresh interpreter; only aiohttp's ClientSession._request is
wrapped to note the wall-clock time of its first call. Goal: first request within 0.3 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine

DEMO = ROOT.parent / "jobs" / "demo.yaml"
CHILD = """
import sys, time
import aiohttp
_request = aiohttp.ClientSession._request
def first(self, *args, **kwargs):
    if not getattr(first, "seen", False):
        first.seen = True
        with open(sys.argv[1], "w") as note:
            note.write(repr(time.time()))
    return _request(self, *args, **kwargs)
aiohttp.ClientSession._request = first
from batchgen.cli import main
main(["run", sys.argv[2], "--out", sys.argv[3], "-q"], prog_name="batchgen")
"""


def once(folder: Path) -> float:
    note = folder / "first"
    spawned = time.time()
    subprocess.run(
        [sys.executable, "-c", CHILD, str(note), str(DEMO), str(folder / "run")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return float(note.read_text()) - spawned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    times = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as folder:
            times.append(once(Path(folder)))
    shown = " ".join(f"{t:.3f}" for t in times)
    print(f"first request after spawn: median {statistics.median(times):.3f} s ({shown})")


if __name__ == "__main__":
    main()
