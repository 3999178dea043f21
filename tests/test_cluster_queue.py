"""A queued provider (fal) on a cluster, without Ray (issue 16): a worker's queued requests go
to the driver's queue log (journal.queued, as on one machine), and a chunk carries those its
tasks made and never read, so a rerun or a dead worker's redo reads them instead of paying."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from batchgen.cluster.recorder import Recorder
from batchgen.cluster.records import Chunk
from batchgen.cluster.remotelog import RemoteQueue
from batchgen.expand import expand
from batchgen.manifest.load import load_manifest
from batchgen.models import Outcome, Task, Timing
from batchgen.run.job import RunOptions
from batchgen.store.queuelog import QUEUE_LOG
from tests.helpers import FAST, write_manifest

URLS = {"status_url": "s", "response_url": "r", "cancel_url": "c"}


def opened(tmp_path: Path) -> tuple[Recorder, list[Task]]:
    path = write_manifest(
        tmp_path,
        f"""
        version: 1
        name: shop
        provider: {{kind: emulator, base_url: "http://127.0.0.1:9"}}
        models: [{FAST}]
        prompts: [a, b, c]
        output: {{dir: "{tmp_path / "out"}"}}
        """,
    )
    recorder = Recorder()
    ready = recorder.open(load_manifest(path), RunOptions(html=False))
    assert not isinstance(ready, Exception), ready
    return recorder, list(expand(ready.manifest))


def test_a_queued_request_is_logged_and_sent_with_its_task_again(tmp_path: Path) -> None:
    recorder, tasks = opened(tmp_path)
    first = tasks[0]
    recorder.queued(first.id, "fal-ai/app", URLS)
    assert (tmp_path / "out" / QUEUE_LOG).read_text().count(first.id) == 1
    chunk = recorder.plan(0, tuple(tasks)).chunk  # a dead worker's chunk, planned again
    assert dict(chunk.queued) == {(first.id, "fal-ai/app"): URLS}
    recorder.close()
    again, _ = opened(tmp_path)  # the rerun after a kill: read from the log
    assert again.plan(1, tuple(tasks[:1])).chunk.queued == {(first.id, "fal-ai/app"): URLS}
    assert again.plan(2, tuple(tasks[1:])).chunk.queued == {}
    again.close()


def test_a_done_tasks_queued_request_is_not_sent_again_and_a_failed_tasks_is(
    tmp_path: Path,
) -> None:
    recorder, tasks = opened(tmp_path)
    done, failed = tasks[0], tasks[1]
    for task in (done, failed):
        recorder.queued(task.id, "fal-ai/app", URLS)
    recorder.finished(Outcome(task=done, status="done", attempts=1, timing=Timing(), cost_usd=0))
    recorder.finished(
        Outcome(task=failed, status="failed", attempts=1, timing=Timing(), cost_usd=0)
    )
    chunk = recorder.plan(0, tuple(tasks)).chunk  # the chunk of a worker that died after
    assert [task.id for task in chunk.tasks] == [failed.id, tasks[2].id]
    assert dict(chunk.queued) == {(failed.id, "fal-ai/app"): URLS}
    recorder.close()


def test_a_workers_book_holds_its_chunks_kept_and_sends_new_ones() -> None:
    sent: list[tuple[str, str, Mapping[str, str]]] = []
    book = RemoteQueue(lambda *note: sent.append(note), Chunk(0, (), queued={("t1", "app"): URLS}))
    assert book.kept == {("t1", "app"): URLS}
    book.accepted("t2", "app", URLS)
    assert sent == [("t2", "app", URLS)]
