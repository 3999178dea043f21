"""Cold start: seconds from spawning `batchgen run jobs/demo.yaml` to its first request.

    python benchmarks/coldstart.py [--rounds 5]

The child is the real CLI in a fresh interpreter; only aiohttp's ClientSession._request is
wrapped to note the wall-clock time and the process's CPU time at its first call. Compiled
modules are cached (in a temporary PYTHONPYCACHEPREFIX, after one round not counted), as in an
installed batchgen. On a loaded machine the wall time stretches; the CPU time much less.
Goal: first request within 0.3 s.
"""

from __future__ import annotations

import argparse
import os
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
            note.write(f"{time.time()!r} {time.process_time()!r}")
    return _request(self, *args, **kwargs)
aiohttp.ClientSession._request = first
from batchgen.cli import main
main(["run", sys.argv[2], "--out", sys.argv[3], "-q"], prog_name="batchgen")
"""


def once(folder: Path, cache: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) from the spawn to the first request."""
    note = folder / "first"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    spawned = time.time()
    subprocess.run(
        [sys.executable, "-c", CHILD, str(note), str(DEMO), str(folder / "run")],
        check=True,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    wall, cpu = (float(word) for word in note.read_text().split())
    return wall - spawned, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as cache:
        for n in range(args.rounds + 1):
            with tempfile.TemporaryDirectory() as folder:
                wall, cpu = once(Path(folder), Path(cache))
            if n:  # the first round compiles the modules
                walls.append(wall)
                cpus.append(cpu)
    shown = " ".join(f"{t:.3f}" for t in walls)
    print(f"first request after spawn: median {statistics.median(walls):.3f} s wall ({shown}),")
    print(f"  {statistics.median(cpus):.3f} s of CPU")


if __name__ == "__main__":
    main()
