"""Test helpers: write manifests, check run directories against their journal."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import urllib.request
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image

from batchgen.manifest.load import load_manifest
from batchgen.models import Manifest

FAST = "google/imagen-4.0-fast-generate-001"
PREVIEW = "google/imagen4/preview"
# the built-in emulator, answering at once with small images (a manifest's provider)
EMULATOR = "{kind: emulator, time_scale: 0, image_bytes: small}"
PIXELS = {
    "1:1": (1024, 1024),
    "3:4": (896, 1280),
    "4:3": (1280, 896),
    "9:16": (768, 1408),
    "16:9": (1408, 768),
}


def write_manifest(folder: Path, body: str, name: str = "job.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def many_prompts(count: int) -> str:
    """One line of YAML (so it can sit in an indented block): `count` distinct prompts."""
    values = ", ".join(str(i) for i in range(count))
    return f'prompts: [{{template: "Test frame {{n}}", vars: {{n: [{values}]}}}}]'


def shop_job(folder: Path, base_url: str, count: int, *, output: str, extra: str = "") -> Path:
    """The cluster tests' job: `count` studio photos on the emulator at `base_url`, written to
    `output`; `extra` is more top-level YAML (its further lines indented by 8 spaces)."""
    things = ", ".join(f"t{i}" for i in range(count))
    return write_manifest(
        folder,
        f"""
        version: 1
        name: shop
        provider: {{kind: emulator, base_url: "{base_url}"}}
        models: [{FAST}]
        prompts:
          - template: "Studio photo of {{thing}}"
            vars: {{thing: [{things}]}}
        output: {{dir: "{output}"}}
        {extra}
        """,
    )


def load(folder: Path, body: str) -> Manifest:
    return load_manifest(write_manifest(folder, body))


def journal_rows(run_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(run_dir / "journal.sqlite") as conn:
        return conn.execute(sql).fetchall()


def image_files(run_dir: Path) -> set[str]:
    images = run_dir / "images"
    if not images.exists():
        return set()
    # a .part is staged beside its final name (same filesystem) and is no image until renamed
    return {
        str(p.relative_to(run_dir))
        for p in images.rglob("*")
        if p.is_file() and not p.name.endswith(".part")
    }


def part_files(run_dir: Path) -> list[Path]:
    return list(run_dir.rglob("*.part"))


def check_run_dir(run_dir: Path, pixels: Mapping[str, tuple[int, int]] = PIXELS) -> int:
    """Every file is a whole PNG of its task's pixel size (by aspect ratio in `pixels`; Imagen's
    1K sizes unless told) and recorded in the journal; no leftovers.

    Returns the number of images checked."""
    rows = journal_rows(
        run_dir,
        "SELECT i.path, t.aspect_ratio, i.width, i.height, i.bytes FROM images i"
        " JOIN tasks t ON t.id = i.task_id",
    )
    recorded = {row[0] for row in rows}
    assert image_files(run_dir) == recorded, "files on disk and journal disagree"
    assert part_files(run_dir) == []
    for path, aspect, width, height, size in rows:
        file = run_dir / path
        assert file.stat().st_size == size
        with Image.open(file) as im:
            im.load()  # decodes every pixel: a cut file fails here
            assert im.format == "PNG"
            assert im.size == pixels[aspect] == (width, height)
    return len(rows)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk with a good CRC: length, type, data, CRC."""
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return len(data).to_bytes(4, "big") + kind + data + crc.to_bytes(4, "big")


def png_is_whole(path: Path) -> bool:
    """Walk every chunk and check its CRC: any cut or flipped byte fails (fast, no decode)."""
    data = path.read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return False
    pos = 8
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 8 + length
        if end + 4 > len(data):
            return False
        if zlib.crc32(data[pos + 4 : end]) != int.from_bytes(data[end : end + 4], "big"):
            return False
        if kind == b"IEND":
            return end + 4 == len(data)
        pos = end + 4
    return False


def check_run_dir_fast(run_dir: Path) -> int:
    """check_run_dir for thousands of files: chunk CRCs instead of a full decode."""
    rows = journal_rows(run_dir, "SELECT path, bytes FROM images")
    assert image_files(run_dir) == {row[0] for row in rows}, "files on disk and journal disagree"
    assert part_files(run_dir) == []
    for path, size in rows:
        assert (run_dir / path).stat().st_size == size and png_is_whole(run_dir / path), path
    return len(rows)


@contextmanager
def emulator_process(*args: str) -> Iterator[str]:
    """`batchgen emulator` in its own process on loopback (port 0), for runs that a test kills
    (the provider must outlive them); yields its URL, stops it with SIGINT after."""
    command = [sys.executable, "-m", "batchgen", "emulator", "--port", "0", *args]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        yield server.stdout.readline().split(" on ")[1].split()[0]
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)


def emulator_stats(url: str) -> dict[str, Any]:
    """An emulator's counters (GET /_emulator/stats), read from another process."""
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=10) as response:
        return dict(json.load(response))


def served_by_prompt(url: str) -> dict[str, int]:
    """Answers the emulator gave, by prompt (it runs with --count-prompts)."""
    return dict(emulator_stats(url)["prompts_served"])
