"""The sink writes only whole images; the journal keeps whole outcomes and locks its folder."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from batchgen.errors import DownloadError, JournalError, SinkError
from batchgen.models import Outcome, SavedImage, Task, Timing
from batchgen.store.journal import Journal
from batchgen.store.sink import Sink

pytestmark = pytest.mark.anyio


def picture(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 90)).save(out, format=fmt)
    return out.getvalue()


async def chunked(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def write(sink: Sink, data: bytes, path: str, expected: int | None = None) -> SavedImage:
    staged = await sink.stage(
        chunked(data), part_name="t-0", path_for=lambda ext: f"{path}.{ext}", index=0,
        expected_bytes=expected,
    )  # fmt: skip
    return sink.place(staged)


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.suffix == ".part"]


@pytest.mark.parametrize(("fmt", "ext"), [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp")])
async def test_whole_images_land_with_their_size(tmp_path: Path, fmt: str, ext: str) -> None:
    sink = Sink(tmp_path)
    sink.prepare()
    data = picture(fmt)
    saved = await write(sink, data, "images/a/x", len(data))
    assert saved == SavedImage(0, f"images/a/x.{ext}", len(data), 64, 48, Image.MIME[fmt])
    assert (tmp_path / saved.path).read_bytes() == data
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("data", "expected", "message"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", None, "not an image"),
        (picture("PNG")[:-20], None, "cut short"),
        (picture("PNG")[:100], 999_999, "got 100 of 999999"),
    ],
)
async def test_broken_downloads_leave_nothing(
    tmp_path: Path, data: bytes, expected: int | None, message: str
) -> None:
    sink = Sink(tmp_path)
    sink.prepare()
    with pytest.raises(DownloadError, match=message):
        await write(sink, data, "images/x", expected)
    kept = [p for p in tmp_path.rglob("*") if p.is_file()]  # noqa: ASYNC240 - a test check
    assert kept in ([], [tmp_path / ".parts" / "folders"])  # the staging ledger may stay


async def test_oversize_download_is_refused(tmp_path: Path) -> None:
    sink = Sink(tmp_path, max_bytes=1000)
    sink.prepare()
    with pytest.raises(DownloadError, match="larger than"):
        await write(sink, b"\x00" * 5000, "images/x")
    assert leftovers(tmp_path) == []


async def test_unwritable_folder_is_a_sink_error(tmp_path: Path) -> None:
    sink = Sink(tmp_path)
    sink.prepare()
    (tmp_path / "images").write_text("a file where a folder should be")
    with pytest.raises(SinkError, match="cannot write"):
        await write(sink, picture("PNG"), "images/x")
    assert leftovers(tmp_path) == []


def test_prepare_drops_half_written_parts(tmp_path: Path) -> None:
    (tmp_path / ".parts").mkdir()
    (tmp_path / ".parts" / "old-0.part").write_bytes(b"half")
    Sink(tmp_path).prepare()
    assert leftovers(tmp_path) == []


def outcome(task_id: str, status: str = "done", cost: float = 0.02) -> Outcome:
    task = Task(id=task_id, ordinal=0, prompt="p", model="m", aspect_ratio="1:1", num_images=1)
    images = (
        (SavedImage(0, f"images/{task_id}.png", 10, 1, 1, "image/png"),) if status == "done" else ()
    )
    return Outcome(
        task=task, status=status, attempts=1, timing=Timing(0.1, 1.0, 0.2, 1.3), cost_usd=cost,  # type: ignore[arg-type]
        model_used="m", images=images, error_kind=None if status == "done" else "server_error",
    )  # fmt: skip


def test_journal_records_resumes_and_accumulates_cost(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    run = journal.begin_run(name="j", planned=3, started_at=1.0)
    journal.record(outcome("a"), run_id=run)
    journal.record(outcome("b", "failed"), run_id=run)
    assert journal.done_among(["a", "b", "c"]) == {"a"}
    journal.record(outcome("b"), run_id=run)  # rendered on a rerun: both attempts were paid
    rows = journal.query("SELECT id, status, attempts, cost_usd FROM tasks ORDER BY id")
    assert [tuple(r) for r in rows] == [
        ("a", "done", 1, 0.02),
        ("b", "done", 2, pytest.approx(0.04)),
    ]
    assert journal.meta("name") == "j"
    journal.close()


def test_one_run_per_folder(tmp_path: Path) -> None:
    first = Journal.open(tmp_path)
    with pytest.raises(JournalError, match="another batchgen run"):
        Journal.open(tmp_path)
    Journal.open(tmp_path, lock=False).close()  # `batchgen report` may read meanwhile
    first.close()
    Journal.open(tmp_path).close()


def test_fresh_waits_for_the_lock_before_forgetting(tmp_path: Path) -> None:
    first = Journal.open(tmp_path)
    run = first.begin_run(name="j", planned=1, started_at=1.0)
    first.record(outcome("a"), run_id=run)
    with pytest.raises(JournalError, match="another batchgen run"):
        Journal.open(tmp_path, fresh=True)
    assert first.done_among(["a"]) == {"a"}  # the running job lost nothing
    first.close()
    again = Journal.open(tmp_path, fresh=True)
    assert again.done_among(["a"]) == set()
    again.close()


def test_after_a_failed_commit_no_writer_is_told_its_rows_are_safe(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    journal.record_image("a", SavedImage(0, "images/a.png", 10, 1, 1, "image/png"))
    journal._conn.execute("ROLLBACK")  # what SQLite does to a group whose COMMIT hit a full disk
    journal._broken = JournalError("journal write failed: disk I/O error")
    with pytest.raises(JournalError):
        journal.commit()
    with pytest.raises(JournalError):
        journal.record_image("b", SavedImage(0, "images/b.png", 10, 1, 1, "image/png"))
    journal.close()  # closes without trying to commit again


def test_looking_up_done_tasks_goes_by_id_not_by_status(tmp_path: Path) -> None:
    """Through the status index, a resume's look-ups grew with the job (quadratic at 1M)."""
    from batchgen.run.engine import FEED_BATCH
    from batchgen.store.journal import _DONE_AMONG

    journal = Journal.open(tmp_path)
    run = journal.begin_run(name="j", planned=2, started_at=1.0)
    journal.record(outcome("a"), run_id=run)
    journal.commit()
    ids = ["a", *(f"x{i}" for i in range(FEED_BATCH - 1))]  # a whole batch, as the feeder asks
    sql = "EXPLAIN QUERY PLAN " + _DONE_AMONG.format(marks=",".join("?" * len(ids)))
    plan = " ".join(row[3] for row in journal.query(sql, ids))
    assert "(id=?)" in plan and "tasks_status" not in plan
    assert journal.done_among(["a", "b"]) == {"a"}
    journal.close()
