"""The emulator renders files in worker threads (load_png): its caches must take inserts and
evictions from many threads at once. An eviction racing an insert once raised mid-answer and
served a benchmark a file cut short."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

from batchgen.emulator.images import ImageToken, render_png
from batchgen.store.pngcheck import PngCheck


def render(worker: int) -> list[str | None]:
    problems = []
    for n in range(120):  # every caption new: the strip cache (256) evicts all the time
        token = ImageToken(256, 256, 30_000, "0" * 32, 0, "abcd1234", n, f"thread {worker} #{n}")
        png = render_png(token)
        check = PngCheck()
        check.feed(png.head + png.body + png.tail)
        problems.append(check.problem())
    return problems


def test_many_threads_render_whole_files_while_the_caches_evict() -> None:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the GIL over as often as possible: races show at once
    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(render, range(8)))
    finally:
        sys.setswitchinterval(interval)
    assert all(problem is None for problems in results for problem in problems)
    assert sum(len(problems) for problems in results) == 8 * 120
