"""A start-up watch in two stages: workflow folders at once, then the whole tree.

The full watch of a large agents dir takes seconds to go up (68,000 folders: ~2.5 s, and far
longer with the folders not in the kernel's cache, as after a reboot), and the port waited
for it. The shallow stage watches the agents dir and each workflow folder (10,000: ~0.1 s),
where a workflow's state file lives: the port opens once it is up, and a state file written
from then on shows at once. What happens deeper (agents' transcripts) before the full watch
is up is read by the catch-up pass, which starts once it is; the shallow stage then stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from livewatch.sources.file_events import Batch, FileEvents

log = logging.getLogger("livewatch.watch")

_END = object()
FULL_WATCH_NICENESS = 10


class StagedFileEvents:
    """`shallow`'s batches until `full` is ready, and `full`'s from the start; the same face
    as `FileEvents`, where `wait_ready` is the first stage's and `ready` the full watch's."""

    def __init__(self, shallow: FileEvents, full: FileEvents) -> None:
        self.shallow = shallow
        self.full = full
        self._merged: asyncio.Queue[object] | None = None
        self._stages: list[asyncio.Task[None]] = []  # the forwarders, kept from the collector

    @classmethod
    def for_workflows(cls, agents_dir: Path, *, debounce_ms: int, step_ms: int) -> StagedFileEvents:
        """Both stages started, the shallow one first (it is the one the port waits for)."""
        options = {"debounce_ms": debounce_ms, "step_ms": step_ms}
        shallow = FileEvents.for_workflows(agents_dir, shallow=True, **options)
        # The port no longer waits for the full watch: its ~3 CPU-s of setting up yield to the
        # server's import, which the port does wait for.
        full = FileEvents.for_workflows(agents_dir, niceness=FULL_WATCH_NICENESS, **options)
        return cls(shallow, full)

    @property
    def pid(self) -> int | None:
        return self.full.pid

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until events flow: the shallow stage is up (or the full watch is)."""
        if self.shallow.wait_ready(timeout) and not self.shallow.failed:
            return True
        return self.full.wait_ready(timeout)  # the shallow stage failed: the full one it is

    async def ready(self) -> None:
        """Wait until the full watch is up (raises what setting it up raised); the shallow
        stage then stops."""
        try:
            await self.full.ready()
        finally:
            self.shallow.close()

    def close(self) -> None:
        self.shallow.close()
        self.full.close()

    async def __aiter__(self) -> AsyncIterator[Batch]:
        merged = self._attach()
        while (item := await merged.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]

    def _attach(self) -> asyncio.Queue[object]:
        """One merged queue, fed by both stages, whoever iterates (as `FileEvents` has one)."""
        if self._merged is None:
            self._merged = asyncio.Queue()
            self._stages = [
                asyncio.create_task(_forward(self.shallow, self._merged, fatal=False)),
                asyncio.create_task(_forward(self.full, self._merged, fatal=True)),
            ]
        return self._merged


async def _forward(events: FileEvents, merged: asyncio.Queue[object], *, fatal: bool) -> None:
    """Put `events`' batches in `merged`. The full watch's end (or error) ends the merged
    stream; the shallow stage's does not: the full watch decides about the tree."""
    end: object = _END
    try:
        async for batch in events:
            merged.put_nowait(batch)
    except Exception as error:
        end = error
    if fatal:
        merged.put_nowait(end)
    elif end is not _END:
        log.info("[WATCH] the start-up's shallow watch ended (%r)", end)


# What a workflow watcher follows: one watch, or the start-up's two stages.
WatchEvents = FileEvents | StagedFileEvents
