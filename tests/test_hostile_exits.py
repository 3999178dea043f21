"""Every way a command can end outside the engine ends with a message and an exit code."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

from batchgen.run.job import RunOptions, run
from tests.helpers import FAST, load, many_prompts, part_files, write_manifest

JOB = f"""
    version: 1
    name: exits
    provider: {{kind: emulator, time_scale: 0, image_bytes: small}}
    models: [{FAST}]
    {many_prompts(30)}
"""


def _small_disk() -> None:
    """In the child: no file may grow past 100 KB, as if the disk filled while report.html
    (~140 KB here) is written; the journal (~60 KB) is only read."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))


def test_a_full_disk_while_the_report_is_written_is_a_message(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run(load(tmp_path, JOB), RunOptions(out=run_dir))
    done = subprocess.run(
        [sys.executable, "-m", "batchgen", "report", str(run_dir)],
        capture_output=True,
        text=True,
        preexec_fn=_small_disk,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "error: cannot write" in done.stderr
    assert part_files(run_dir) == []


CSV_JOB = f"""
    version: 1
    name: big
    models: [{FAST}]
    prompts:
      - template: "Studio photo of {{product}}"
        vars: {{product: {{csv: products.csv, column: name}}}}
"""


def _stopped_while_loading(tmp_path: Path, command: str, signum: signal.Signals) -> tuple[int, str]:
    """Start `batchgen COMMAND` on a manifest whose CSV is a pipe: opening the pipe for writing
    returns once the child is inside the load, so the signal lands there, every time. The pipe
    is closed after the signal: a signal that arrives while the C csv reader parses is handled
    at its next Python step, and if the reader's next read(2) began first, only the end of
    the file lets it return (on a loaded machine 2 runs in 8 hung with the pipe held open)."""
    pipe = tmp_path / "products.csv"
    os.mkfifo(pipe)
    manifest = write_manifest(tmp_path, CSV_JOB)
    process = subprocess.Popen(
        [sys.executable, "-m", "batchgen", command, str(manifest)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with open(pipe, "w", encoding="utf-8") as rows:
        rows.write("name\n" + "".join(f"product {i}\n" for i in range(1000)))
        rows.flush()
        process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    return process.returncode, err


def test_sigterm_while_a_large_csv_loads_is_an_interruption(tmp_path: Path) -> None:
    code, err = _stopped_while_loading(tmp_path, "validate", signal.SIGTERM)
    assert code == 130, err
    assert "interrupted (SIGTERM)" in err and "Traceback" not in err


def test_sigint_at_start_up_is_an_interruption_not_aborted(tmp_path: Path) -> None:
    code, err = _stopped_while_loading(tmp_path, "plan", signal.SIGINT)
    assert code == 130, err
    assert "Aborted!" not in err and "Traceback" not in err and "interrupted" in err
