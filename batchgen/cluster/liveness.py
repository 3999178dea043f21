"""Whether the driver is still there, asked before every request a worker starts.

Why: a SIGKILLed driver's local Ray reaps its workers and recorder only seconds later; meanwhile
the workers went on through their queued chunks, and the requests they started in the last
moments were paid but never recorded (their worker or the recorder died first), so the rerun paid
them again. A worker now asks for a start permission while it holds its slot, and the recorder
(on the driver's node) answers from the driver process itself: a pidfd turns readable the
moment the process exits, before anyone reaps it. Once the driver is gone no request starts, so
what can be paid and never recorded is what held a slot (and its permission) at the kill: at most
the run's concurrency. A driver on another machine (Ray Client) is watched by its heartbeat; a
late one only pauses the starts, since a loaded driver may just be slow.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import anyio

from batchgen.errors import JournalError

BEAT_S = 0.25  # the driver's heartbeat (a driver the recorder cannot watch by its process)
STALE_S = 2.0  # a heartbeat this old pauses the starts until the next one
ASK_AGAIN_S = 0.1  # a worker told to wait asks again after
Answer = Literal["go", "wait", "gone"]


class DriverGone(JournalError):
    """The driver stopped (killed, or its journal unreachable): no new request starts."""


@dataclass(frozen=True, slots=True)
class DriverId:
    """Where the driver runs: its host name and process id."""

    host: str
    pid: int

    @classmethod
    def here(cls) -> DriverId:
        return cls(socket.gethostname(), os.getpid())


class DriverWatch:
    """The recorder's view of the driver: its process when on this machine, else its beats."""

    def __init__(
        self,
        driver: DriverId,
        *,
        stale_s: float = STALE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # the process is watched only if it is found here now (the driver waits on this
        # recorder's open(), so it is alive): a host name shared by two machines, or a
        # driver in another pid namespace, falls back to the heartbeat
        self._pid: int | None = None
        self._fd: int | None = None
        if driver.host == socket.gethostname():
            self._fd = _pidfd(driver.pid)
            if self._fd is not None or (_no_pidfd() and _exists(driver.pid)):
                self._pid = driver.pid
        self._stale_s = stale_s
        self._clock = clock
        self._beat_at = clock()

    def __repr__(self) -> str:
        how = f"pid {self._pid}" if self._pid is not None else "heartbeat"
        return f"DriverWatch({how})"

    @property
    def by_process(self) -> bool:
        return self._pid is not None

    def beat(self) -> None:
        self._beat_at = self._clock()

    def answer(self) -> Answer:
        """go: the driver is there; gone: its process exited; wait: its beat is late."""
        if self._pid is not None:
            return "go" if self._process_alive(self._pid) else "gone"
        return "go" if self._clock() - self._beat_at < self._stale_s else "wait"

    def _process_alive(self, pid: int) -> bool:
        if self._fd is not None:  # readable once the process has exited, reaped or not
            readable, _, _ = select.select([self._fd], [], [], 0)
            return not readable
        return _exists(pid)  # no pidfd (not Linux): a zombie counts until it is reaped

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def _no_pidfd() -> bool:
    return getattr(os, "pidfd_open", None) is None


def _pidfd(pid: int) -> int | None:
    if _no_pidfd():
        return None
    try:
        fd: int = os.pidfd_open(pid)
    except OSError:  # no such process here, or a kernel before 5.3
        return None
    return fd


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


class StartGuard:
    """A worker's side: `permit()` returns once the driver answers go, raises DriverGone once
    it is gone (or cannot be asked), and asks again while its heartbeat is late."""

    def __init__(
        self, ask: Callable[[], Awaitable[Answer]], *, ask_again_s: float = ASK_AGAIN_S
    ) -> None:
        self._ask = ask
        self._ask_again_s = ask_again_s
        self.refused = 0

    def __repr__(self) -> str:
        return f"StartGuard(refused={self.refused})"

    async def permit(self) -> None:
        while True:
            answer = await self._ask()
            if answer == "go":
                return
            if answer == "gone":
                self.refused += 1
                raise DriverGone(
                    "the driver is gone (killed?): no new request starts; run the same "
                    "command again to resume from the journal"
                )
            await anyio.sleep(self._ask_again_s)


@contextlib.contextmanager
def heartbeat(send: Callable[[], object], *, every_s: float = BEAT_S) -> Iterator[None]:
    """The driver's side: `send` (a note to the recorder, not awaited) every `every_s` from a
    thread of its own, while the driver's main thread waits on Ray."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            send()

    thread = threading.Thread(target=beat, name="batchgen-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
