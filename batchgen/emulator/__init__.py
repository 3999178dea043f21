"""A loopback server that speaks the image wire formats of the AI/ML API (/v1/images/generations),
Google (/v1beta/models/{model}:predict and :generateContent), OpenAI (/openai/v1/images/generations)
and fal's queue (/fal/{app}), and serves real PNG files.

It shares no code with the client side of batchgen, so one shared bug cannot pass both sides.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from batchgen.emulator.app import EmulatorStats, create_app, file_link_here, stats_of
from batchgen.emulator.config import EmulatorConfig
from batchgen.emulator.faults import FaultSpec, parse_faults

__all__ = [
    "Emulator",
    "EmulatorConfig",
    "EmulatorStats",
    "FaultSpec",
    "create_app",
    "parse_faults",
    "running_emulator",
    "serve",
    "stats_of",
]

# In-flight generations may be sleeping through long latencies; nobody waits for them at exit.
SHUTDOWN_TIMEOUT_S = 0.5


@dataclass(frozen=True, slots=True)
class Emulator:
    """A running emulator: where to reach it and its live counters."""

    base_url: str
    stats: EmulatorStats
    app: web.Application

    def file_link(self, url: str) -> str:
        """An image link as this emulator serves it: a file link an earlier emulator on this
        host gave (a killed run's) is served here (app.file_link_here)."""
        return file_link_here(url, self.base_url)


@asynccontextmanager
async def running_emulator(
    config: EmulatorConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    clock: Callable[[], float] | None = None,
) -> AsyncIterator[Emulator]:
    """Serve the emulator in the current event loop (port 0 picks a free port) until exit."""
    app = create_app(config) if clock is None else create_app(config, clock=clock)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        url_host = f"[{host}]" if ":" in host else host  # an IPv6 literal needs brackets
        yield Emulator(f"http://{url_host}:{bound_port}", stats_of(app), app)
    finally:
        await runner.cleanup()


def serve(config: EmulatorConfig, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the emulator until Ctrl+C or SIGTERM (for `batchgen emulator`); prints the base URL
    first."""
    # Pillow (captions, JPEG/WebP answers) is loaded before the server says it listens, so
    # its first answer is as quick as the rest; the in-process emulator of a run loads it
    # with its first image instead, after the run's first request is out.
    for module in ("PIL.ImageDraw", "PIL.ImageFont"):
        importlib.import_module(module)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(config, host, port))


async def _serve_forever(config: EmulatorConfig, host: str, port: int) -> None:
    async with running_emulator(config, host, port) as emulator:
        print(f"batchgen emulator listening on {emulator.base_url} (Ctrl+C to stop)", flush=True)
        print(
            "  base_url per provider kind: aimlapi and gemini the address above, openai "
            f"{emulator.base_url}/openai/v1, fal {emulator.base_url}/fal",
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # Handlers of our own: a process started in the background by a shell inherits SIGINT
        # ignored, and a supervisor stops servers with SIGTERM.
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
