"""Rows as a prompt source: CSV, JSONL and text files, per-row fields and overrides, row ids,
duplicates, names that cannot collide, located bad cells, and the count `plan` gives."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from batchgen.errors import ManifestError
from batchgen.expand import count_tasks, expand, image_path
from batchgen.manifest.load import load_manifest
from batchgen.plan import make_plan
from tests.helpers import FAST, load, write_manifest

COLORS = ("red", "green", "blue", "black")


def products(folder: Path, count: int = 200, *, name: str = "products.csv") -> Path:
    path = folder / name
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["sku", "name", "color", "category"])
        for i in range(count):
            writer.writerow([f"SKU-{i:04d}", f"product {i}", COLORS[i % 4], f"cat{i % 3}"])
    return path


def catalog(rows: str = "{csv: products.csv, id_column: sku}", extra: str = "") -> str:
    return f"""
        version: 1
        name: shop
        models: [{FAST}]
        aspect_ratios: ["1:1", "3:4"]
        num_images: 2
        prompts:
          - template: "Studio photo of a {{color}} {{name}}"
            rows: {rows}
        {extra}
    """


def problems(folder: Path, body: str) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load(folder, body)
    return caught.value.problems


def test_the_200_row_catalog_plans_rows_x_ratios_x_candidates(tmp_path: Path) -> None:
    products(tmp_path)
    manifest = load(tmp_path, catalog(extra='output: {filename: "{sku}/{aspect}-{index}.{ext}"}'))
    plan = make_plan(manifest)
    assert (plan.tasks, plan.images) == (200 * 2, 200 * 2 * 2)
    tasks = list(expand(manifest))
    assert len(tasks) == 400 == count_tasks(manifest)
    first = tasks[0]
    assert first.prompt == "Studio photo of a red product 0" and first.row_id == "SKU-0000"
    assert first.row["category"] == "cat0"
    assert image_path(manifest.output.filename, first, index=1, ext="png", name="shop") == (
        "SKU-0000/1x1-1.png"
    )


def test_task_ids_do_not_change_when_the_file_is_resorted(tmp_path: Path) -> None:
    path = products(tmp_path, 50)
    before = {task.id for task in expand(load(tmp_path, catalog()))}
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    assert {task.id for task in expand(load(tmp_path, catalog()))} == before


def test_same_prompt_with_distinct_ids_is_two_tasks_and_two_files(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("sku,name,color\nA-1,mug,red\nA-2,mug,red\n")
    manifest = load(tmp_path, catalog("{csv: p.csv, id_column: sku}"))
    tasks = list(expand(manifest))
    assert len({task.id for task in tasks}) == len(tasks) == 4 == count_tasks(manifest)


def test_identical_rows_without_ids_are_one_task(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("name,color\nmug,red\nlamp,blue\nmug,red\n")
    manifest = load(tmp_path, catalog("{csv: p.csv}"))
    tasks = list(expand(manifest))
    assert len(tasks) == len({task.id for task in tasks}) == count_tasks(manifest) == 4


def test_duplicate_row_ids_are_located_errors(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("sku,name,color\nA-1,mug,red\nA-2,lamp,red\nA-1,cup,blue\n")
    found = problems(tmp_path, catalog("{csv: p.csv, id_column: sku}"))
    assert found == [f"{tmp_path / 'p.csv'}:4: duplicate id 'A-1' (first on line 2)"]


def test_a_bad_cell_is_located_at_file_and_line(tmp_path: Path) -> None:
    rows = ["sku,name,color,ratio"] + [f"S{i},mug,red,1:1" for i in range(55)] + ["S99,mug,red,2:3"]
    (tmp_path / "p.csv").write_text("\n".join(rows) + "\n")
    body = catalog("{csv: p.csv, id_column: sku, columns: {aspect_ratio: ratio}}")
    (message,) = problems(tmp_path, body)
    assert message.startswith(f"{tmp_path / 'p.csv'}:57: column ratio: '2:3' is not allowed")


def test_the_job_name_clash_is_a_located_error(tmp_path: Path) -> None:
    products(tmp_path, 3)
    body = catalog(extra='output: {filename: "{name}/{sku}-{task_id}-{index}.{ext}"}')
    (message,) = problems(tmp_path, body)
    assert message.startswith(f"{tmp_path / 'job.yaml'}:9:")
    assert "output.filename: {name} is the job's own placeholder and also a field of" in message


def test_a_column_called_name_works_in_the_template_and_other_fields_in_the_filename(
    tmp_path: Path,
) -> None:
    products(tmp_path, 3)
    manifest = load(
        tmp_path, catalog(extra='output: {filename: "{category}/{sku}/{aspect}-{index}.{ext}"}')
    )
    task = next(iter(expand(manifest)))
    assert "product 0" in task.prompt
    assert image_path(manifest.output.filename, task, index=0, ext="png", name="shop") == (
        "cat0/SKU-0000/1x1-0.png"
    )


def test_without_ids_in_the_filename_task_id_is_still_required(tmp_path: Path) -> None:
    products(tmp_path, 3)
    (message,) = problems(tmp_path, catalog(extra='output: {filename: "{sku}-{index}.{ext}"}'))
    assert "must contain {aspect}" in message or "must contain {task_id}" in message


def test_jsonl_records_with_ids_and_overrides(tmp_path: Path) -> None:
    records = [
        {"id": "T1", "name": "teapot", "color": "black", "ratio": "4:3", "neg": "text"},
        {"id": "T2", "name": "cup", "color": "white", "p": {"enhance_prompt": True}, "n": 3},
    ]
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    columns = "{aspect_ratio: ratio, negative_prompt: neg, params: p, num_images: n}"
    manifest = load(tmp_path, catalog(f"{{jsonl: c.jsonl, columns: {columns}}}"))
    tasks = list(expand(manifest))
    assert [(t.row_id, t.aspect_ratio, t.num_images) for t in tasks] == [
        ("T1", "4:3", 2),
        ("T2", "1:1", 3),
        ("T2", "3:4", 3),
    ]
    assert tasks[0].params == {"negative_prompt": "text"}
    assert tasks[1].params == {"enhance_prompt": True}
    plan = make_plan(manifest)
    assert (plan.tasks, plan.images) == (3, 2 + 3 + 3)


def test_per_row_model_and_seed_overrides(tmp_path: Path) -> None:
    other = "google/imagen-4.0-generate-001"
    (tmp_path / "p.csv").write_text(f"sku,name,color,m,s\nA,mug,red,{other},7 8\nB,cup,blue,,\n")
    body = catalog("{csv: p.csv, id_column: sku, columns: {model: m, seed: s}}")
    manifest = load(tmp_path, body)
    tasks = [(t.row_id, t.model, t.seed) for t in expand(manifest)]
    assert tasks[:4] == [("A", other, 7), ("A", other, 8), ("A", other, 7), ("A", other, 8)]
    assert tasks[4:] == [("B", FAST, None), ("B", FAST, None)]
    assert {m.model: m.tasks for m in make_plan(manifest).by_model} == {FAST: 2, other: 4}


def test_a_text_file_is_one_prompt_per_line(tmp_path: Path) -> None:
    (tmp_path / "prompts.txt").write_text("a red fox\n\na blue whale\na red fox\n")
    manifest = load(tmp_path, f"""
        version: 1
        models: [{FAST}]
        prompts:
          - rows: {{text: prompts.txt}}
    """)  # fmt: skip
    assert [task.prompt for task in expand(manifest)] == ["a red fox", "a blue whale"]
    assert count_tasks(manifest) == 2


def test_rows_multiply_with_inline_vars(tmp_path: Path) -> None:
    products(tmp_path, 10)
    manifest = load(tmp_path, f"""
        version: 1
        models: [{FAST}]
        prompts:
          - template: "{{style}} photo of a {{name}}"
            rows: {{csv: products.csv, id_column: sku}}
            vars: {{style: [minimal, vivid]}}
    """)  # fmt: skip
    assert count_tasks(manifest) == 20 == len({task.id for task in expand(manifest)})


def test_template_fields_must_be_columns_and_columns_must_exist(tmp_path: Path) -> None:
    products(tmp_path, 3)
    body = catalog("{csv: products.csv, id_column: skuu, columns: {seed: seedz}}")
    found = "\n".join(problems(tmp_path, body.replace("{color}", "{colour}")))
    assert "no column 'skuu'" in found and "did you mean 'sku'?" in found
    assert "no column 'seedz'" in found
    assert "placeholder {colour} has no var" in found


def test_a_missing_jsonl_field_and_a_broken_line_are_located(tmp_path: Path) -> None:
    (tmp_path / "c.jsonl").write_text(
        '{"id": "a", "name": "x", "color": "red"}\n{"id": "b"}\n{oops\n'
    )
    found = problems(tmp_path, catalog("{jsonl: c.jsonl}"))
    path = tmp_path / "c.jsonl"
    assert found[0] == f"{path}:2: no field 'color' (the template uses {{color}})"
    assert found[1].startswith(f"{path}:3: not JSON")


def test_the_shipped_catalog_jobs_validate() -> None:
    root = Path(__file__).parent.parent / "jobs"
    thumbnails = load_manifest(root / "thumbnails.yaml")
    assert count_tasks(thumbnails) == 12
    assert {t.aspect_ratio for t in expand(thumbnails) if t.row_id == "LMP-010"} == {"3:4"}
    assert count_tasks(load_manifest(root / "catalog-jsonl.yaml")) == 4


def test_a_missing_rows_file_is_located_at_its_key(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, catalog("{csv: nowhere.csv}"))
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    (message,) = caught.value.problems
    assert message.startswith(f"{path}:8:") and "prompts[0].rows.csv: cannot read" in message


def test_a_prompt_entry_given_twice_is_counted_once(tmp_path: Path) -> None:
    manifest = load(tmp_path, f"""
        version: 1
        models: [{FAST}]
        prompts: ["a red fox", "a red fox", "a blue fox", "a red fox"]
    """)  # fmt: skip
    ids = [task.id for task in expand(manifest)]
    assert count_tasks(manifest) == 2 == len(set(ids)) == len(ids)


def test_csv_rows_need_a_template(tmp_path: Path) -> None:
    products(tmp_path, 2)
    body = f"""
        version: 1
        models: [{FAST}]
        prompts:
          - rows: {{csv: products.csv}}
    """
    (message,) = problems(tmp_path, body)
    assert message.endswith("prompts[0]: missing required key 'template'")
