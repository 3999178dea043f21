"""An in-memory provider for engine tests: a handler function decides each answer (httpx's
MockTransport habit). Images are real PNG bytes, inline as base64."""

from __future__ import annotations

import base64
import io
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from PIL import Image

from batchgen.models import Generation, ImageRef, Task, Usage
from batchgen.providers.base import Download, Provider
from batchgen.retry import RetryPolicy
from batchgen.run.budget import Budget
from batchgen.run.engine import RunResult, TaskSource
from batchgen.run.job import build_engine
from batchgen.run.limits import Limiter
from batchgen.run.render import RenderSettings
from batchgen.run.runlog import RunLog
from batchgen.run.saving import SaveSettings
from batchgen.store.journal import Journal
from batchgen.store.sink import Sink
from tests.helpers import PIXELS

Handler = Callable[[Task, str], Awaitable[Generation]]


def png_b64(aspect: str) -> str:
    out = io.BytesIO()
    Image.new("RGB", PIXELS[aspect], (90, 160, 40)).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


def answer(task: Task, model: str, usd: float = 0.02) -> Generation:
    refs = tuple(ImageRef(i, b64=png_b64(task.aspect_ratio)) for i in range(task.num_images))
    return Generation(images=refs, model=model, usage=Usage(usd=usd))


class FakeProvider(Provider):
    kind = "fake"

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: Counter[str] = Counter()  # by model

    async def generate(self, task: Task, *, model: str) -> Generation:
        self.calls[model] += 1
        return await self.handler(task, model)

    def fetch(self, ref: ImageRef) -> AbstractAsyncContextManager[Download]:
        raise AssertionError("the fake answers inline")


async def run_engine(
    tmp_path: Path,
    provider: Provider,
    tasks: TaskSource,
    *,
    concurrency: int = 4,
    fallback: dict[str, str] | None = None,
    max_attempts: int = 3,
    request_timeout_s: float = 30.0,
    max_usd: float | None = None,
) -> tuple[RunResult, Journal]:
    """Run tasks through a real engine, sink and journal with the given provider."""
    journal = Journal.open(tmp_path, lock=False)
    sink = Sink(tmp_path)
    sink.prepare()
    policy = RetryPolicy(
        max_attempts=max_attempts, download_attempts=max_attempts, wait_scale=0.001
    )
    engine = build_engine(
        provider=provider,
        limiter=Limiter(concurrency=concurrency),
        budget=Budget(max_usd),
        sink=sink,
        log=RunLog(journal, journal.begin_run(name="fake", planned=0, started_at=0.0)),
        save=SaveSettings(name="fake", filename="{task_id}-{index}.{ext}"),
        render=RenderSettings(
            request_timeout_s=request_timeout_s, fallback=fallback or {}, policy=policy
        ),
        workers=concurrency,
    )
    return await engine.run(tasks), journal


def tasks(count: int, model: str = "model-a", aspect: str = "1:1") -> list[Task]:
    return [
        Task(
            id=f"t{i:04d}",
            ordinal=i,
            prompt=f"p{i}",
            model=model,
            aspect_ratio=aspect,
            num_images=1,
        )
        for i in range(count)
    ]
