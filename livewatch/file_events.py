"""watchfiles' `watch` in its own thread, its batches handed to the event loop.

`awatch` checks its stop event with a Python call on every step (every 5 ms here), in a
worker thread that must take the GIL each time: about 0.3 % of a core while nothing happens.
The blocking `watch` without a stop event only wakes Python when a batch is ready, or on
`rust_timeout`, which is when the thread looks at its own stop flag. The loop is woken only
for real batches.

Setting the inotify watches up holds the GIL (about 1 s for 68,000 folders), so it is done
once, as early as possible: `start()` may run before the event loop exists, and `ready()`
says when every watch is in place, so a scan started after it can miss nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import watchfiles

Batch = set[tuple[watchfiles.Change, str]]

# How often the thread looks at its stop flag (and first reports that it is ready).
TIMEOUT_MS = 100
_END = object()  # the thread's last item


class FileEvents:
    """Batches of changes under one path, from a daemon thread; iterate them with `async for`."""

    def __init__(
        self,
        path: Path,
        *,
        debounce_ms: int,
        step_ms: int,
        force_polling: bool = False,
        poll_delay_ms: int = 300,
        ignore_permission_denied: bool = False,
        watch_filter: watchfiles.BaseFilter | None = None,
    ) -> None:
        self.path = path
        self._options: dict[str, Any] = {
            "debounce": debounce_ms,
            "step": step_ms,
            "force_polling": force_polling,
            "poll_delay_ms": poll_delay_ms,
            "ignore_permission_denied": ignore_permission_denied,
            "watch_filter": watch_filter or watchfiles.DefaultFilter(),
        }
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._setup_error: BaseException | None = None
        self._held: list[object] = []  # items from before a loop attached
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[object] | None = None
        self._thread = threading.Thread(target=self._run, name="livewatch-file-events", daemon=True)

    def start(self) -> FileEvents:
        self._thread.start()
        return self

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the watches are in place (or setting them up failed)."""
        return self._ready.wait(timeout)

    async def ready(self) -> None:
        """Wait until the watches are in place; raises what setting them up raised."""
        self._attach()
        if not self._ready.is_set():
            await asyncio.to_thread(self._ready.wait)
        if self._setup_error is not None:
            raise self._setup_error

    def close(self) -> None:
        """Stop: the thread ends at its next timeout; iteration ends at once."""
        self._stop.set()
        self._put(_END)

    async def __aiter__(self) -> AsyncIterator[Batch]:
        queue = self._attach()
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]

    # -- the thread's side ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            for batch in watchfiles.watch(
                self.path,
                stop_event=None,  # checked between timeouts instead: see the module docstring
                rust_timeout=TIMEOUT_MS,
                yield_on_timeout=True,
                raise_interrupt=False,
                **self._options,
            ):
                self._ready.set()
                if self._stop.is_set():
                    return
                if batch:
                    self._put(batch)
        except BaseException as error:  # handed to the loop, which decides what it means
            if not self._ready.is_set():
                self._setup_error = error
            self._put(error)
        finally:
            self._ready.set()
            self._put(_END)

    def _put(self, item: object) -> None:
        with self._lock:
            if self._loop is None or self._queue is None:
                self._held.append(item)
                return
            loop, queue = self._loop, self._queue
        # A closed loop raises RuntimeError: nobody is listening any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def _attach(self) -> asyncio.Queue[object]:
        with self._lock:
            if self._queue is None:
                self._loop = asyncio.get_running_loop()
                self._queue = asyncio.Queue()
                for item in self._held:
                    self._queue.put_nowait(item)
                self._held.clear()
            return self._queue
