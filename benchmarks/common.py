"""Shared pieces of the benchmarks: an emulator process, manifests, file checks, machine info."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import textwrap
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FAST = "google/imagen-4.0-fast-generate-001"
STANDARD = "google/imagen-4.0-generate-001"
ULTRA = "google/imagen-4.0-ultra-generate-001"
ROOT = Path(__file__).resolve().parent


@contextmanager
def emulator_process(*args: str) -> Iterator[str]:
    """`batchgen emulator` in its own process (so its CPU is not the client's); yields its URL."""
    command = [sys.executable, "-m", "batchgen", "emulator", "--port", "0", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().split(" on ")[1].split()[0]
    finally:
        # SIGTERM, not SIGINT: a shell running us in the background leaves SIGINT ignored
        process.terminate()
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def emulator_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=10) as response:
        return dict(json.load(response))


def manifest_text(
    *, base_url: str, count: int, models: list[str] | None = None, limits: str = "", extra: str = ""
) -> str:
    values = ", ".join(str(i) for i in range(count))
    return textwrap.dedent(f"""\
        version: 1
        name: bench
        provider: {{kind: emulator, base_url: "{base_url}"}}
        models: [{", ".join(models or [FAST])}]
        prompts: [{{template: "Benchmark frame {{n}}", vars: {{n: [{values}]}}}}]
        limits: {{{limits}}}
        {extra}
        """)


def installed_env(cache: Path) -> dict[str, str]:
    """This environment for a child Python that runs as an installed batchgen does: its compiled
    modules cached in `cache` (an install has its .pyc files; a shell that sets
    PYTHONDONTWRITEBYTECODE would make every child compile matplotlib and aiohttp again)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(cache)}


def write_manifest(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bench.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def png_is_whole(data: bytes) -> bool:
    """Every chunk's CRC checks and the file ends at IEND: a cut or corrupt file fails."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return False
    pos = 8
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        end = pos + 8 + length
        if end + 4 > len(data) or zlib.crc32(data[pos + 4 : end]) != int.from_bytes(
            data[end : end + 4], "big"
        ):
            return False
        if data[pos + 4 : pos + 8] == b"IEND":
            return end + 4 == len(data)
        pos = end + 4
    return False


def check_files(folder: Path, expected: int) -> None:
    """Fail loudly if a run made fewer files than it should, or any broken one."""
    files = list(folder.rglob("*.png"))
    if len(files) != expected:
        raise SystemExit(f"BROKEN RUN: {len(files)} files in {folder}, expected {expected}")
    broken = [p for p in files if not png_is_whole(p.read_bytes())]
    if broken:
        raise SystemExit(f"BROKEN RUN: {len(broken)} corrupt files, e.g. {broken[0]}")


def fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    system = f"{platform.system()} {platform.release()}"
    return f"{system}, {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"
