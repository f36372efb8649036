"""File events from a watch in a child process, handed to the event loop as batches.

The watch runs in `livewatch.sources.watch_child`, for two reasons:
- setting up inotify watches holds the GIL (about 1 s for 68,000 folders); in-process, that
  would stall the event loop just when the first clients connect;
- watchfiles' `awatch` calls a Python `is_set()` on every step (every 8 ms), taking the GIL
  each time. The child uses the blocking `watch` with no stop event, and the server's loop is
  woken only when a batch arrives.

A daemon thread reads the child's lines. `start()` may run before the event loop exists;
`ready()` says when every watch is in place, so a scan started after it can miss nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import watchfiles

from livewatch.sources.workflows import RAW_OUTPUT_FILE

Batch = set[tuple[watchfiles.Change, str]]

CHILD = "livewatch.sources.watch_child"
_END = object()  # the reader's last item
# By the number the child writes: an Enum call per change was a tenth of this thread's work.
_CHANGES = {int(change): change for change in watchfiles.Change}
_ERRORS: dict[str, type[Exception]] = {
    "FileNotFoundError": FileNotFoundError,
    "PermissionError": PermissionError,
    "OSError": OSError,
}


class WatchProcessError(RuntimeError):
    """The watch process failed in a way that is not an OSError, or exited on its own."""


class FileEvents:
    """Batches of changes under one path; iterate them with `async for`."""

    def __init__(
        self,
        path: Path,
        *,
        debounce_ms: int,
        step_ms: int,
        force_polling: bool = False,
        poll_delay_ms: int = 300,
        ignore_permission_denied: bool = False,
        python_only: bool = False,
        gathered_suffix: str | None = None,
        shallow: bool = False,
        niceness: int = 0,
    ) -> None:
        self.path = path
        self._options: dict[str, Any] = {
            "shallow": shallow,
            "niceness": niceness,
            "gathered_suffix": gathered_suffix,
            "debounce": debounce_ms,
            "step": step_ms,
            "force_polling": force_polling,
            "poll_delay_ms": poll_delay_ms,
            "ignore_permission_denied": ignore_permission_denied,
            "python_only": python_only,
        }
        self._ready = threading.Event()
        self._closed = threading.Event()
        self._setup_error: BaseException | None = None
        self._failed = False
        self._lock = threading.Lock()
        self._held: list[object] = []  # items from before a loop attached
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[object] | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(
            target=self._read, name="livewatch-file-events", daemon=True
        )

    @classmethod
    def for_workflows(
        cls,
        agents_dir: Path,
        *,
        debounce_ms: int,
        step_ms: int,
        force_polling: bool = False,
        ignore_permission_denied: bool = False,
        shallow: bool = False,
        niceness: int = 0,
    ) -> FileEvents:
        """The watch on an agents dir, started (the same options wherever it is started);
        `shallow`: only the dir and its workflow folders (see `watch_child.watch_shallow`)."""
        return cls(
            agents_dir,
            debounce_ms=debounce_ms,
            step_ms=step_ms,
            force_polling=force_polling,
            poll_delay_ms=max(step_ms, 100),
            ignore_permission_denied=ignore_permission_denied,
            # Transcripts are paced by `debounce_ms`; other changes go after one quiet step.
            gathered_suffix=f"{os.sep}{RAW_OUTPUT_FILE}",
            shallow=shallow,
            niceness=niceness,
        ).start()

    def start(self) -> FileEvents:
        self._child = subprocess.Popen(
            [sys.executable, "-m", CHILD, str(self.path), json.dumps(self._options)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            # Its own session: a Ctrl-C in the terminal is the server's to handle; the server
            # then stops this child.
            start_new_session=True,
        )
        self._thread.start()
        return self

    @property
    def pid(self) -> int | None:
        return None if self._child is None else self._child.pid

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the watches are in place (or setting them up failed)."""
        return self._ready.wait(timeout)

    @property
    def failed(self) -> bool:
        """Setting the watches up failed (`ready()` raises why)."""
        return self._setup_error is not None

    async def ready(self) -> None:
        """Wait until the watches are in place; raises what setting them up raised."""
        self._attach()
        if not self._ready.is_set():
            await asyncio.to_thread(self.wait_ready)
        if self._setup_error is not None:
            raise self._setup_error

    def close(self) -> None:
        """Stop the child; iteration ends at once."""
        self._closed.set()
        if self._child is not None and self._child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._child.terminate()
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

    # -- the reader thread ------------------------------------------------------------------

    def _read(self) -> None:
        assert self._child is not None and self._child.stdout is not None
        try:
            for line in self._child.stdout:
                self._take(orjson.loads(line))
            code = self._child.wait()
            if not self._closed.is_set() and not self._failed:
                self._fail(WatchProcessError(f"the watch process exited with code {code}"))
        except Exception as error:  # a garbled line: the child is not what we started
            self._fail(error)
        finally:
            self._ready.set()
            self._put(_END)

    def _take(self, message: dict[str, Any]) -> None:
        if "ready" in message:
            self._ready.set()
        elif "batch" in message:
            self._put({(_CHANGES[change], path) for change, path in message["batch"]})
        elif "error" in message:
            self._fail(_rebuild(message["error"]))

    def _fail(self, error: BaseException) -> None:
        self._failed = True
        if not self._ready.is_set() and self._setup_error is None:
            self._setup_error = error
        self._put(error)

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


def _rebuild(error: dict[str, Any]) -> Exception:
    """The child's error as an exception of the same kind (OSError keeps its errno)."""
    kind, number, message = error.get("type"), error.get("errno"), str(error.get("message"))
    cls = _ERRORS.get(str(kind))
    if cls is None:
        return WatchProcessError(f"{kind}: {message}")
    # OSError(errno, text) picks the subclass for the errno (13: PermissionError, ...).
    return OSError(number, message) if isinstance(number, int) else cls(message)
