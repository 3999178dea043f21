"""Cold start: seconds from spawning `batchgen run jobs/demo.yaml` to its first request.

    python benchmarks/coldstart.py [--rounds 5]

The child is the real CLI in a fresh interpreter; only aiohttp's ClientSession._request is
wrapped to note the wall-clock time and the process's CPU time at its first call. It runs twice
a round: on a pseudo-terminal, as the README's demo command runs in a shell (the live view, and
rich, loaded before the run starts), and with `-q` on a pipe. Compiled modules are cached (in a
temporary PYTHONPYCACHEPREFIX, after one round not counted), as in an installed batchgen. On a
loaded machine the wall time stretches; the CPU time much less. Goal: first request within 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import pty
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, installed_env, machine

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
main(["run", sys.argv[2], "--out", sys.argv[3], *sys.argv[4:]], prog_name="batchgen")
"""
KINDS = {"terminal": [], "quiet": ["-q"]}  # the demo as typed in a shell; -q on a pipe


def once(folder: Path, cache: Path, kind: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) from the spawn to the first request."""
    note = folder / "first"
    env = installed_env(cache)
    command = [sys.executable, "-c", CHILD, str(note), str(DEMO), str(folder / "run"), *KINDS[kind]]
    spawned = time.time()
    if kind == "terminal":
        _on_terminal(command, env)
    else:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    wall, cpu = (float(word) for word in note.read_text().split())
    return wall - spawned, cpu


def _on_terminal(command: list[str], env: dict[str, str]) -> None:
    """Run `command` with a pseudo-terminal as its stdout and stderr; its screen is discarded."""
    main_fd, child_fd = pty.openpty()
    with subprocess.Popen(command, stdout=child_fd, stderr=child_fd, env=env) as child:
        os.close(child_fd)
        while True:  # read the screen as it comes, or the child blocks on a full terminal
            try:
                if not os.read(main_fd, 65536):
                    break
            except OSError:  # EIO: the child closed the terminal's last end
                break
    os.close(main_fd)
    if child.returncode:
        raise SystemExit(f"the demo failed on a terminal (exit {child.returncode})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    walls: dict[str, list[float]] = {kind: [] for kind in KINDS}
    cpus: dict[str, list[float]] = {kind: [] for kind in KINDS}
    with tempfile.TemporaryDirectory() as cache:
        for n in range(args.rounds + 1):
            for kind in KINDS:  # in turn, so load falls on both
                with tempfile.TemporaryDirectory() as folder:
                    wall, cpu = once(Path(folder), Path(cache), kind)
                if n:  # the first round compiles the modules
                    walls[kind].append(wall)
                    cpus[kind].append(cpu)
    print("first request after spawn (median of rounds; goal 0.3 s):")
    for kind in KINDS:
        shown = " ".join(f"{t:.3f}" for t in walls[kind])
        wall, cpu = statistics.median(walls[kind]), statistics.median(cpus[kind])
        print(f"  {kind:8s} {wall:.3f} s wall ({shown}), {cpu:.3f} s of CPU")


if __name__ == "__main__":
    main()
