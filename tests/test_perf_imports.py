"""The run path's start-up imports only what a run needs: charts, thumbnails, the emulator and
comparisons load when used (each costs start-up time before the first request)."""

from __future__ import annotations

import json
import subprocess
import sys

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
    modules = imported_by("import batchgen")
    assert "batchgen.run.job" in modules  # it is really the run path that was imported
    assert not any(n.split(".")[0] in ("matplotlib", "PIL") for n in modules)
