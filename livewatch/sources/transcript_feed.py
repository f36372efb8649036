"""Every agent's `raw_output.jsonl`, followed as it grows, into the hub's event log.

The workflow watcher hands over the transcript paths of each batch of file events. Only the
bytes appended since the last read are read: on the loop when they are few and every file is
open already, else in a thread. The events go to the hub as one batch, and the followers' byte
offsets to `save_offsets` after them, so a restart continues where the stored events end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from livewatch.hub.event_log import EventLog
from livewatch.hub.events import Event
from livewatch.sources.transcript_follower import TranscriptTracker
from livewatch.sources.workflows import RAW_OUTPUT_FILE

log = logging.getLogger("livewatch.watch")

Offsets = dict[str, tuple[int, int]]

# A batch of at most this many transcripts, all open already and with at most this many new
# bytes in all, is read on the event loop.
INLINE_READ_FILES = 64
INLINE_READ_BYTES = 256 * 1024


def is_transcript(path: str) -> bool:
    return path.endswith(f"{os.sep}{RAW_OUTPUT_FILE}")


class TranscriptFeed:
    """Transcripts on disk → agent events in the hub."""

    def __init__(
        self,
        agents_dir: Path,
        log_: EventLog,
        *,
        save_offsets: Callable[[Offsets], None] | None = None,
    ) -> None:
        self.tracker = TranscriptTracker(agents_dir)
        self.events = log_
        self.save_offsets = save_offsets
        self._lock = asyncio.Lock()  # one read at a time: followers hold offsets
        self._pending: set[str] = set()
        self._drainer: asyncio.Task[None] | None = None

    def resume(self, offsets: Offsets) -> None:
        """Continue from stored offsets instead of reading each file's tail again."""
        self.tracker.resume(offsets)

    async def catch_up(self) -> int:
        """Find every transcript and read what is new in each: at start, and on rescans."""
        return await self._read(None)

    async def changed(self, paths: Iterable[str | Path]) -> int:
        """Read the transcripts a batch of file events named."""
        return await self._read([str(p) for p in paths])

    def notify(self, paths: Iterable[str]) -> None:
        """Read these transcripts soon, without waiting: the watcher goes on with the next
        batch meanwhile, and paths named again while a read runs are read once, after it."""
        self._pending.update(paths)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="transcript reads")

    async def _drain(self) -> None:
        while self._pending:
            paths, self._pending = self._pending, set()
            try:
                await self._read(list(paths))
            except Exception:  # one bad read must not strand the paths named after it
                log.exception("[WATCH] reading transcripts failed")

    async def release_idle(self) -> int:
        """Close the kept descriptors of transcripts that went quiet (between reads)."""
        async with self._lock:
            return self.tracker.release_idle()

    async def _read(self, paths: list[str] | None) -> int:
        async with self._lock:
            if self._reads_inline(paths):
                events, offsets = self._read_blocking(paths)
            else:
                events, offsets = await asyncio.to_thread(self._read_blocking, paths)
            self.events.append(events)
            if offsets and self.save_offsets is not None:
                self.save_offsets(offsets)
            return len(events)

    def _reads_inline(self, paths: list[str] | None) -> bool:
        # Lines appended to a file we keep open were written a moment ago: they are in the page
        # cache and reading them does not block. At 2,000 lines/s a batch holds a line or two
        # per file, and handing each batch to a thread (wake-ups, GIL hand-offs) cost about
        # as much CPU as the read itself. First reads, rescans, many files and big appends
        # (a tool's whole output could hold the loop for long) still use a thread.
        if paths is None or len(paths) > INLINE_READ_FILES:
            return False
        unread = self.tracker.unread_bytes(paths)
        return unread is not None and unread <= INLINE_READ_BYTES

    def _read_blocking(self, paths: list[str] | None) -> tuple[list[Event], Offsets]:
        now_ms = int(time.time() * 1000)
        if paths is None:
            found = self.tracker.discover()
            self.tracker.retain(k for p in found if (k := self.tracker.key_of(p)) is not None)
            # Oldest first, so the agent that wrote last is each workflow's "now".
            paths = [str(p) for p in sorted(found, key=_mtime)]
        # A deleted file reads as nothing; its follower goes at the next full scan.
        events = self.tracker.read_changed(paths, now_ms)
        # Only the offsets these reads moved: the others are stored already.
        keys = {key for p in paths if (key := self.tracker.key_of(p)) is not None}
        return events, self.tracker.offsets_of(keys)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
