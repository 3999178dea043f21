"""The run path's start-up imports only what a run needs: charts, thumbnails, the emulator and
comparisons load when used (each costs start-up time before the first request)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

NOT_AT_START = ("matplotlib", "PIL", "jsonschema", "batchgen.emulator", "batchgen.report.html")


def imported_by(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_the_cli_does_not_import_charts_thumbnails_or_the_emulator() -> None:
    modules = imported_by("import batchgen.cli")
    loaded = [m for m in NOT_AT_START if any(n == m or n.startswith(m + ".") for n in modules)]
    assert loaded == []


def test_the_library_does_not_either() -> None:
    modules = imported_by("from batchgen import run")
    assert "batchgen.run.job" in modules  # it is really the run path that was imported
    assert not any(n.split(".")[0] in ("matplotlib", "PIL") for n in modules)


# What `batchgen run -q` of the demo has imported when it sends its first request: the report,
# the plan, comparisons, batch mode, notifications and Pillow wait until they are used, and
# with nothing to show, the live view and rich are never loaded.
NOT_BEFORE_FIRST_REQUEST = (
    "rich",
    "batchgen.progress",
    "PIL",
    "matplotlib",
    "jsonschema",
    "batchgen.plan",
    "batchgen.plan_text",
    "batchgen.run_text",
    "batchgen.report.summary",
    "batchgen.report.read",
    "batchgen.report.files",
    "batchgen.report.compare",
    "batchgen.report.html",
    "batchgen.run.batch_job",
    "batchgen.run.batch_status",
    "batchgen.providers.notify",
)
AT_FIRST_REQUEST = """
import json, os, sys
import aiohttp
_request = aiohttp.ClientSession._request
def first(self, *args, **kwargs):
    with open(sys.argv[1], "w") as note:
        json.dump(sorted(sys.modules), note)
    os._exit(0)  # the start is what is looked at; the run itself is tested elsewhere
aiohttp.ClientSession._request = first
from batchgen.cli import main
main(["run", sys.argv[2], "--out", sys.argv[3], "-q"], prog_name="batchgen")
"""


def test_the_demo_sends_its_first_request_before_importing_the_report(tmp_path: Path) -> None:
    note = tmp_path / "modules.json"
    demo = Path(__file__).resolve().parent.parent / "jobs" / "demo.yaml"
    command = [sys.executable, "-c", AT_FIRST_REQUEST, str(note), str(demo), str(tmp_path / "run")]
    subprocess.run(command, capture_output=True, check=True, timeout=120)
    modules = set(json.loads(note.read_text()))
    assert {"batchgen.emulator", "batchgen.run.engine", "batchgen.store.journal"} <= modules
    loaded = [m for m in NOT_BEFORE_FIRST_REQUEST if any(_within(n, m) for n in modules)]
    assert loaded == []


def test_public_names_load_when_used_and_run_stays_the_function() -> None:
    code = (
        "import sys, batchgen\n"
        "assert 'batchgen.run.job' not in sys.modules, 'import batchgen loaded the run'\n"
        "import batchgen.run.engine\n"  # the subpackage batchgen.run must not shadow run()
        "from batchgen import run, Summary, RunOptions\n"
        "assert callable(run) and run is batchgen.run and run.__module__ == 'batchgen.run.job'\n"
        "assert Summary.__module__ == 'batchgen.report.summary'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


# Commands that send nothing start without the engine, the HTTP client or the live view.
NOT_WITHOUT_A_RUN = ("aiohttp", "rich", "batchgen.run.engine", "batchgen.progress")
AFTER_A_COMMAND = """
import json, sys
from batchgen.cli import main
code = None
try:
    main(sys.argv[2:], prog_name="batchgen")
except SystemExit as exc:
    code = exc.code
with open(sys.argv[1], "w") as note:
    json.dump({"exit": code, "modules": sorted(sys.modules)}, note)
"""


def test_commands_that_send_nothing_do_not_import_the_engine(tmp_path: Path) -> None:
    demo = Path(__file__).resolve().parent.parent / "jobs" / "demo.yaml"
    note = tmp_path / "modules.json"
    run_dir = tmp_path / "run"
    subprocess.run(  # a finished run for `report` to rebuild
        [sys.executable, "-m", "batchgen", "run", str(demo), "--out", str(run_dir), "-q"],
        capture_output=True,
        check=True,
        timeout=120,
    )
    commands = (
        ["validate", str(demo)],
        ["plan", str(demo), "--out", str(run_dir)],
        ["schema"],
        ["status", str(run_dir)],
        ["report", str(run_dir)],
    )
    for command in commands:
        script = [sys.executable, "-c", AFTER_A_COMMAND, str(note), *command]
        subprocess.run(script, capture_output=True, check=True, timeout=120)
        seen = json.loads(note.read_text())
        modules = set(seen["modules"])
        assert seen["exit"] in (0, None), command  # the command really ran, and did its work
        loaded = [m for m in NOT_WITHOUT_A_RUN if any(_within(n, m) for n in modules)]
        assert (command[0], loaded) == (command[0], [])


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")
