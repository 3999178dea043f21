"""Instructions per image (callgrind's Ir, which no other load on the machine changes): the
baseline, batchgen, and batchgen with the PNG whole-check off, each in a process of its own.

    python benchmarks/instructions.py [--tasks 100] [--image-bytes small] [--tree DIR ...]

Each kind runs twice under callgrind, with a few tasks and with `--tasks` more; the difference
over `--tasks` is its instructions per image (start-up, imports and the run's fixed costs
cancel). All the client's threads are counted; the emulator runs outside valgrind, in its own
process. `--tree` measures other checkouts of batchgen side by side (e.g. one made with
`git archive`), each on PYTHONPATH in turn. Instructions are not time: the kernel's work (file
creation, writes, sockets) is not counted, and zlib-ng does more per instruction than Python.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, emulator_process, fresh, machine
from overhead import NO_CHECK, WORK, baseline, batchgen_run, manifest_for, png_check_off

KINDS = ("baseline", "batchgen", NO_CHECK)
FEW = 10  # the smaller run: the fixed costs it shares with the larger one cancel
CONCURRENCY = 16


def child(kind: str, url: str, count: int) -> None:
    """One run of `count` tasks in this process (valgrind counts it from the start)."""
    out = fresh(WORK / f"ir-{kind}")
    if kind == "baseline":
        (out / "files").mkdir()
        work = baseline(url, count, CONCURRENCY, out / "files")
    else:
        work = batchgen_run(manifest_for(url, count, CONCURRENCY), out)
    with png_check_off(kind == NO_CHECK):
        asyncio.run(work)


def instructions(kind: str, url: str, count: int, tree: Path) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
            sys.executable, __file__, "--child", kind, url, str(count),
        ]  # fmt: skip
        path = os.pathsep.join([str(tree), str(ROOT)])
        env = {**os.environ, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": ""}
        subprocess.run(command, check=True, env=env, capture_output=True)
        found = re.search(r"^summary: (\d+)", out.read_text(), re.MULTILINE)
        if found is None:
            raise SystemExit(f"no summary line in callgrind's output for {kind}")
        return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--image-bytes", default="small")
    parser.add_argument("--tree", type=Path, nargs="+", default=[ROOT.parent])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, url, count = args.child
        child(kind, url, int(count))
        return
    print(f"machine: {machine()}")
    print(
        f"{args.tasks} {args.image_bytes} images (the difference of {FEW} and {FEW + args.tasks})"
    )
    for folder in (ROOT, *args.tree):  # compiled first, or the first run counts the compiling
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(folder)], check=True)
    with emulator_process("--time-scale", "0", "--image-bytes", args.image_bytes) as url:
        for tree in args.tree:
            for kind in args.kinds:
                few = instructions(kind, url, FEW, tree)
                many = instructions(kind, url, FEW + args.tasks, tree)
                per_image = (many - few) / args.tasks
                print(f"  {str(tree):30} {kind:9} {per_image / 1e6:8.2f} M Ir/image", flush=True)


if __name__ == "__main__":
    main()
