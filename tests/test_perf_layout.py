"""The default layout fans out by task id; old runs keep their names; --fresh deletes the old
outputs only once the new run is recorded, and only batchgen's own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from batchgen.models import LEGACY_FILENAME, Outcome
from batchgen.run.job import RunOptions, run
from batchgen.run.layout import FORGOTTEN
from batchgen.run.observer import Observer
from tests.helpers import FAST, load

JOB = f"""
version: 1
name: layout
models: [{FAST}]
prompts: [PROMPTS]
provider: {{kind: emulator, time_scale: 0, image_bytes: small}}
"""
TWO = JOB.replace("PROMPTS", '"a cat", "a dog"')


def image_paths(run_dir: Path) -> dict[str, str]:
    with sqlite3.connect(run_dir / "journal.sqlite") as conn:
        return dict(conn.execute("SELECT task_id, path FROM images").fetchall())


def test_the_default_layout_puts_each_image_in_its_task_ids_shard(tmp_path: Path) -> None:
    job = run(load(tmp_path, TWO), RunOptions(out=tmp_path / "run"))
    assert job.summary.tasks.done == 2
    paths = image_paths(tmp_path / "run")
    for task_id, path in paths.items():
        parts = Path(path).parts
        assert parts[0] == "images" and parts[-2] == task_id[:2], path
        assert (tmp_path / "run" / path).is_file()


def test_a_run_begun_before_the_shards_keeps_its_layout(tmp_path: Path) -> None:
    old = JOB.replace("PROMPTS", '"a cat"') + f'output: {{filename: "{LEGACY_FILENAME}"}}\n'
    run(load(tmp_path, old), RunOptions(out=tmp_path / "run"))
    first = image_paths(tmp_path / "run")
    job = run(load(tmp_path, TWO), RunOptions(out=tmp_path / "run"))
    assert job.result.done == 1  # the cat was not rendered again
    paths = image_paths(tmp_path / "run")
    assert len(paths) == 2 and first.items() <= paths.items()
    for task_id, path in paths.items():
        assert Path(path).parts[-2] != task_id[:2] and len(Path(path).parts) == 4, path
        assert (tmp_path / "run" / path).is_file()


class Looking(Observer):
    """Notes, as each task finishes, whether the earlier run's images are still on disk."""

    def __init__(self, old: list[Path]) -> None:
        self.old = old
        self.seen: list[bool] = []

    def finished(self, outcome: Outcome) -> None:
        self.seen.append(all(path.is_file() for path in self.old))


def test_fresh_deletes_the_old_images_only_after_the_new_run_is_recorded(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run(load(tmp_path, TWO), RunOptions(out=run_dir))
    (run_dir / "images" / "notes.txt").write_text("in batchgen's images folder")
    outside = run_dir / "mine.txt"
    outside.write_text("the user's own file beside the run")
    aside: list[Path] = []
    looking = Looking(aside)

    class SetAside(Looking):
        def finished(self, outcome: Outcome) -> None:
            if not aside:
                aside.extend(p for p in (run_dir / FORGOTTEN).rglob("*.png"))
            looking.finished(outcome)

    job = run(load(tmp_path, TWO), RunOptions(out=run_dir, fresh=True), SetAside(aside))
    assert job.result.done == 2  # rendered again, from scratch
    assert len(aside) == 2 and looking.seen == [True, True]  # kept while rendering
    assert not (run_dir / FORGOTTEN).exists()  # and gone once the run was recorded
    assert not (run_dir / "images" / "notes.txt").exists()
    assert outside.read_text() == "the user's own file beside the run"
    assert len(list((run_dir / "images").rglob("*.png"))) == 2


def test_a_forgotten_folder_batchgen_did_not_make_is_left_alone(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / FORGOTTEN).mkdir(parents=True)
    (run_dir / FORGOTTEN / "keep.txt").write_text("not batchgen's")
    run(load(tmp_path, TWO), RunOptions(out=run_dir))
    run(load(tmp_path, TWO), RunOptions(out=run_dir))
    assert (run_dir / FORGOTTEN / "keep.txt").read_text() == "not batchgen's"


def test_a_runs_report_makes_few_thumbnails_and_batchgen_report_the_rest(tmp_path: Path) -> None:
    from batchgen.report.files import rebuild_reports
    from batchgen.report.names import RUN_THUMBNAILS

    count = RUN_THUMBNAILS + 4
    prompts = ", ".join(f'"frame {n}"' for n in range(count))
    run_dir = tmp_path / "run"
    run(load(tmp_path, JOB.replace("PROMPTS", prompts)), RunOptions(out=run_dir))
    assert len(list((run_dir / "thumbs").glob("*.jpg"))) == RUN_THUMBNAILS
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert page.count('src="images/') == 4 and "missing:" not in page  # the rest link the file
    rebuild_reports(run_dir)
    assert len(list((run_dir / "thumbs").glob("*.jpg"))) == count
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert 'src="images/' not in page and page.count("data:image/jpeg;base64,") == count
