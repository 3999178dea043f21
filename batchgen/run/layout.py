"""Where a run's files go across its runs: the default filename a run began with, and the
outputs --fresh forgets, set aside by renames and deleted only once the new run is recorded."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from batchgen.models import DEFAULT_FILENAME, LEGACY_FILENAME
from batchgen.report.names import REPORT_FILES, THUMBS_DIR
from batchgen.store.journal import Journal
from batchgen.store.sink import IMAGES_DIR

FILENAME_META = "default_filename"  # the default filename this run directory began with
FORGOTTEN = ".forgotten"  # earlier runs' images and thumbnails, until the new run is recorded
FORGOTTEN_META = "forgotten"  # "1" while FORGOTTEN holds what --fresh set aside


def filename_for(filename: str, journal: Journal, *, earlier_run: bool) -> str:
    """The manifest's filename, except that a run directory begun under the old default keeps
    it: the files it has and will have stay in one layout (journalled paths are never moved)."""
    if filename != DEFAULT_FILENAME:
        return filename
    recorded = journal.meta(FILENAME_META)
    if recorded is None:
        recorded = LEGACY_FILENAME if earlier_run else DEFAULT_FILENAME
        journal.set_meta(FILENAME_META, recorded)
    return recorded


def set_aside(run_dir: Path, journal: Journal) -> None:
    """--fresh: drop the earlier reports, and rename the earlier images/ and thumbs/ into
    FORGOTTEN. Nothing is deleted while the new run renders: on ext4 a file created after many
    deletes costs up to 30x the kernel CPU (benchmarks/RESULTS.md, issue 18)."""
    for name in REPORT_FILES:
        (run_dir / name).unlink(missing_ok=True)
    aside = run_dir / FORGOTTEN
    for folder in (IMAGES_DIR, THUMBS_DIR):
        source = run_dir / folder
        if source.is_symlink() or not source.is_dir():  # a link the user made stays theirs
            continue
        try:
            aside.mkdir(exist_ok=True)
            os.replace(source, aside / f"{folder}-{time.time_ns()}")
        except OSError:  # a mount point cannot be renamed: emptied now, as before
            shutil.rmtree(source, ignore_errors=True)
    journal.set_meta(FORGOTTEN_META, "1")
    journal.commit()  # a kill from here on leaves FORGOTTEN for the next run to clear


def clear_forgotten(run_dir: Path, journal: Journal) -> None:
    """Delete what `set_aside` kept, once this run is recorded; a run killed before that leaves
    it for the next run to clear. Only a folder the journal says batchgen made is deleted."""
    if journal.meta(FORGOTTEN_META) != "1":
        return
    shutil.rmtree(run_dir / FORGOTTEN, ignore_errors=True)  # rmtree never follows a link
    journal.set_meta(FORGOTTEN_META, "0")
    journal.commit()
