"""Which emulator request an image came from, and which requests a killed run had paid for:
tests of "never pay twice" that cannot read a killed process's emulator counters.

Every PNG the emulator draws names its request in a tEXt chunk ("request=<32 hex> index=<n>"),
and its file links carry the same request id in their token, so a saved image whose request is
not the one a task's paid generation names was bought a second time."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

from batchgen.store.paidlog import PAID_LOG

# A child process (python -c PAY_THEN_DIE MANIFEST RUN_DIR) pays for the first task through the
# manifest's provider (a built-in emulator starts in the child), keeps the generation in the run
# log, then SIGKILLs itself before any commit.
PAY_THEN_DIE = """
import asyncio, os, signal, sys
from pathlib import Path
from batchgen.expand import expand
from batchgen.manifest.load import load_manifest
from batchgen.providers import open_provider
from batchgen.run.runlog import RunLog
from batchgen.store.journal import Journal

async def main():
    manifest = load_manifest(sys.argv[1])
    log = RunLog.begin(Journal.open(Path(sys.argv[2])), name=manifest.name, planned=1)
    task = next(expand(manifest))
    async with open_provider(manifest) as provider:
        generation = await provider.generate(task, model=task.model)
        log.paid(task, model=task.model, refs=generation.images, cost_usd=0.04)
        os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""

_DRAWN_FOR = re.compile(rb"request=([0-9a-f]{32}) index=(\d+)")


def request_of(png: bytes) -> tuple[str, int]:
    """The emulator request (and image index) a PNG was drawn for."""
    found = _DRAWN_FOR.search(png)
    assert found is not None, "no emulator tEXt in the image"
    return found[1].decode(), int(found[2])


def paid_requests(state: Path) -> dict[str, set[str]]:
    """task -> the emulator requests its paid generation names: the journal's kept
    generations and the paid log's lines (what a kill left before the next commit)."""
    rows: list[tuple[str, str]] = []
    journal = state / "journal.sqlite"
    if journal.exists():
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as conn:
            rows += conn.execute("SELECT task_id, refs FROM generations").fetchall()
    log = state / PAID_LOG
    lines = log.read_bytes().splitlines() if log.exists() else []
    rows += [
        (row[0], row[3]) for line in lines if line.endswith(b"]") and (row := json.loads(line))
    ]
    paid: dict[str, set[str]] = {}
    for task_id, refs in rows:
        for entry in json.loads(refs):
            paid.setdefault(task_id, set()).add(_request_of_entry(state, entry))
    return paid


def _request_of_entry(state: Path, entry: dict[str, Any]) -> str:
    """A paid image's request: from its link's token, or its staged inline bytes."""
    if "url" in entry:
        token = entry["url"].rsplit("/", 1)[1]  # {w}x{h}-{bytes}-{request}-{index}-...
        return str(token.split("-")[2])
    staged = (state / entry["inline"]).read_bytes()
    return request_of(base64.b64decode(staged))[0]
