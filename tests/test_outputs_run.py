"""Runs on the emulator with output.format/sizes: every derived file whole, of its size and
format, named by {size}, in the journal before it appeared, listed in index.jsonl/index.csv."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from batchgen.cli import main
from tests.helpers import (
    EMULATOR,
    FAST,
    PIXELS,
    image_files,
    journal_rows,
    part_files,
    write_manifest,
)


def job(output: str) -> str:
    return f"""
        version: 1
        name: shop
        provider: {EMULATOR}
        models: [{FAST}]
        aspect_ratios: ["1:1", "3:4"]
        num_images: 2
        prompts:
          - template: "Studio photo of a {{thing}}"
            vars: {{thing: [mug, lamp]}}
        output: {output}
    """


def run(runner: CliRunner, tmp_path: Path, output: str) -> Path:
    manifest = write_manifest(tmp_path, job(output))
    result = runner.invoke(main, ["run", str(manifest), "--out", "run"])
    assert result.exit_code == 0, result.output
    return tmp_path / "run"


def index(run_dir: Path) -> list[dict[str, object]]:
    lines = (run_dir / "index.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def expected_size(size: str, aspect: str) -> tuple[int, int]:
    width, height = PIXELS[aspect]
    if size == "original":
        return width, height
    return int(size), round(height * int(size) / width)


def test_webp_sizes_are_whole_named_indexed_and_journaled(
    runner: CliRunner, tmp_path: Path
) -> None:
    run_dir = run(
        runner,
        tmp_path,
        '{filename: "{task_id}-{index}-{size}.{ext}", format: webp, quality: 75,'
        " sizes: [{width: 400}, {width: 200}]}",
    )
    entries = index(run_dir)
    assert len(entries) == 2 * 2 * 2 * 3  # prompts x aspects x images x (original + 2 sizes)
    assert {str(e["path"]) for e in entries} == image_files(run_dir)
    assert part_files(run_dir) == []
    for entry in entries:
        file = run_dir / str(entry["path"])
        data = file.read_bytes()
        assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data) and entry["mime_type"] == "image/webp"
        size, aspect = str(entry["size"]), str(entry["aspect_ratio"])
        with Image.open(file) as image:
            image.load()
            assert image.size == expected_size(size, aspect) == (entry["width"], entry["height"])
        assert entry["path"] == f"images/{entry['task_id']}-{entry['index']}-{size}.webp"
    with (run_dir / "index.csv").open(encoding="utf-8", newline="") as stream:
        table = list(csv.DictReader(stream))
    assert [(r["path"], r["size"]) for r in table] == [(e["path"], e["size"]) for e in entries]
    # one journal row per image, naming all three files
    rows = journal_rows(run_dir, "SELECT path, variants FROM images")
    assert len(rows) == 8
    for path, variants in rows:
        files = json.loads(variants)
        assert [f["size"] for f in files] == ["original", "400", "200"]
        assert files[0]["path"] == path


def test_without_size_in_the_name_variants_get_a_suffix_and_the_original_can_go(
    runner: CliRunner, tmp_path: Path
) -> None:
    run_dir = run(
        runner,
        tmp_path,
        '{filename: "{thing}/{task_id}-{index}.{ext}", keep_original: false,'
        " sizes: [{width: 300, height: 300, fit: cover}]}",
    )
    files = image_files(run_dir)
    assert len(files) == 8
    assert all(name.endswith("-300x300.png") for name in files), files
    for name in files:
        with Image.open(run_dir / name) as image:
            assert image.format == "PNG" and image.size == (300, 300)
    assert {str(e["size"]) for e in index(run_dir)} == {"300x300"}


def test_a_rerun_makes_nothing_new(runner: CliRunner, tmp_path: Path) -> None:
    output = "{format: jpeg, sizes: [{width: 120}]}"
    run_dir = run(runner, tmp_path, output)
    before = {p: (run_dir / p).stat().st_mtime_ns for p in image_files(run_dir)}
    assert len(before) == 16
    manifest = write_manifest(tmp_path, job(output))
    result = runner.invoke(main, ["run", str(manifest), "--out", "run"])
    assert result.exit_code == 0 and "this run 0 done" in result.output, result.output
    assert {p: (run_dir / p).stat().st_mtime_ns for p in image_files(run_dir)} == before
