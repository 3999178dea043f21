"""What `validate` and `run` print about a manifest: warnings with the errors in one pass, repeats
folded ("and 199 more like it"), near misses suggested (a placeholder and its var, a file and its
neighbour), and each warning once from `run`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from batchgen.cli import main
from batchgen.errors import ManifestError
from batchgen.manifest.load import load_manifest
from batchgen.manifest.suggest import closest, file_hint, fold, shape
from tests.helpers import FAST, write_manifest

TYPO_MODEL = "google/imagen-4.0-fast-generate-01"


def validate(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", str(path)])
    return result.exit_code, result.stderr


def test_warnings_come_with_the_errors_in_one_pass(tmp_path: Path) -> None:
    path = write_manifest(
        tmp_path,
        f"""
        version: 1
        models: [{TYPO_MODEL}]
        num_images: 9
        prompts: [a]
        """,
    )
    code, err = validate(path)
    assert code == 2
    assert "error: " in err and "num_images: must be an integer from 1 to 4" in err
    assert f"warning: {path}:2:10: models[0]: unknown model" in err
    assert err.rstrip().endswith("1 error, 1 warning")
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert len(caught.value.problems) == 1 and len(caught.value.warnings) == 1


def test_warnings_survive_broken_shapes(tmp_path: Path) -> None:
    # models and fallback of the wrong shape are errors; looking for warnings must not crash
    path = write_manifest(
        tmp_path, "version: 1\nmodels: [1, {a: b}]\nfallback: [x]\nprompts: [a]\n"
    )
    code, err = validate(path)
    assert code == 2 and "Traceback" not in err and "error:" in err


def test_two_hundred_alike_errors_are_one_and_a_count(tmp_path: Path) -> None:
    prompts = "\n".join(f'  - template: "frame {i} of {{missing}}"' for i in range(200))
    path = write_manifest(tmp_path, f"version: 1\nmodels: [{FAST}]\nprompts:\n{prompts}\n")
    code, err = validate(path)
    assert code == 2
    assert err.count("placeholder {missing} has no var") == 1
    assert "... and 199 more like it (lines 5, 6, 7, 8, 9, 10, 11, 12, ...)" in err
    assert len(err.splitlines()) < 10  # not ~600
    assert err.rstrip().endswith("200 errors")


def test_a_placeholder_and_the_var_it_meant(tmp_path: Path) -> None:
    path = write_manifest(
        tmp_path,
        f"""
        version: 1
        models: [{FAST}]
        prompts:
          - template: "A {{colour}} mug"
            vars: {{color: [red, blue]}}
        """,
    )
    code, err = validate(path)
    assert code == 2
    assert "placeholder {colour} has no var; did you mean {color} (the var 'color')?" in err
    assert "var 'color' is not used; did you mean it for the placeholder {colour}?" in err


def test_a_file_name_and_its_neighbour(tmp_path: Path) -> None:
    (tmp_path / "products.csv").write_text("name\nmug\n", encoding="utf-8")
    path = write_manifest(
        tmp_path,
        f"""
        version: 1
        models: [{FAST}]
        prompts:
          - template: "A {{product}}"
            vars: {{product: {{csv: product.csv, column: name}}}}
        """,
    )
    code, err = validate(path)
    assert code == 2
    assert "cannot read" in err and "did you mean products.csv?" in err


def test_run_prints_each_warning_once(tmp_path: Path) -> None:
    path = write_manifest(
        tmp_path,
        f"""
        version: 1
        provider: {{kind: emulator, time_scale: 0, image_bytes: small}}
        models: [{TYPO_MODEL}]
        fallback: {{{TYPO_MODEL}: {FAST}}}
        aspect_ratios: ["1:1", "16:9"]
        prompts: [a, b, c]
        """,
    )
    result = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "run")])
    assert result.stderr.count(f"unknown model '{TYPO_MODEL}'") == 1, result.stderr
    code, err = validate(path)
    assert code == 0 and err.count("warning:") == 1


def test_near_names() -> None:
    assert closest("colour", ["size", "color"]) == "color"
    assert closest("size", ["style"]) is None  # 0.67: not a typo
    assert closest("product.csv", ["products.csv", "prices.csv"]) == "products.csv"


def test_file_hint_reads_the_folder(tmp_path: Path) -> None:
    (tmp_path / "products.csv").touch()
    assert file_hint(tmp_path / "product.csv") == "did you mean products.csv? "
    assert file_hint(tmp_path / "zzz.csv") == ""
    assert file_hint(tmp_path / "nowhere" / "a.csv") == ""


def test_shapes_and_folding() -> None:
    a = "f.yaml:3:1: prompts[7]: prompt is 612 characters; at most 480"
    b = "f.yaml:9:1: prompts[9]: prompt is 700 characters; at most 480"
    c = "f.yaml:12:1: models[0]: unknown model 'x'"
    assert shape(a) == shape(b) != shape(c)
    assert shape("placeholder {a} has no var; add a") == shape("placeholder {b} has no var; add b")
    folded = fold([a, b, c, c])
    assert [(f.message, f.more_lines) for f in folded] == [(a, (9,)), (c, ())]
    assert folded[0].tail() == "... and 1 more like it (line 9)"
    assert folded[1].tail() is None
