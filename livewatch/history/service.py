"""The history, wired: the store, the recorder on the hub, the backfill child, the tally.

The runtime builds one `History` and calls `follow` once the first scan is in; the backfill
and the activity tally run as supervised background tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from livewatch.history.backfill import DB_ENV
from livewatch.history.recorder import RunRecorder
from livewatch.hub.activity import Activity
from livewatch.hub.collection import Collection
from livewatch.hub.event_log import EventLog
from livewatch.store.events import StoreError
from livewatch.store.history import HistoryStore

log = logging.getLogger("livewatch.history")

TALLY_EVERY_S = 5.0  # how often the activity chart's counts are saved
BACKFILL_RETRY_S = 30.0  # after a failed backfill (database down), try again this much later
BUSY_POLL_S = 0.5  # how often a waiting backfill looks whether the server is still busy


@dataclass
class BackfillState:
    state: str = "idle"  # idle, waiting (for the first list's check), running, done or failed
    runs: int | None = None  # runs written by the last backfill
    seconds: float | None = None
    error: str | None = None


class History:
    """One process's run history: recorded live, backfilled once, read by the API and page."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self.recorder = RunRecorder(store)
        self.backfill = BackfillState()

    @classmethod
    def open(cls, engine: Engine) -> History:
        store = HistoryStore(engine)
        store.start()
        return cls(store)

    def follow(self, workflows: Collection, events: EventLog) -> None:
        """Record every change from now on (what is there now is the backfill's)."""
        self.recorder.seed(workflows.records())
        workflows.observe(self.recorder.observe)
        events.observe(self.recorder.observe_events)

    def status(self) -> dict[str, Any]:
        return {**self.store.status(), "backfill": asdict(self.backfill)}

    def close(self) -> None:
        self.recorder.flush()
        self.store.close()

    # -- the activity chart's tally ---------------------------------------------------------

    def restore_activity(self, activity: Activity, now: float | None = None) -> None:
        """Load the last hour's counts saved by an earlier run (blocking, a small query)."""
        now = time.time() if now is None else now
        since = int(now // activity.bucket_s - activity.buckets + 1) * activity.bucket_s
        try:
            for minute, count in self.store.activity(since):
                activity.record(count, minute)
        except StoreError as error:
            log.warning("[HISTORY] activity tally not restored: %s", error)

    async def keep_activity(self, activity: Activity, stop: asyncio.Event) -> None:
        """Save the current and the previous minute's counts every few seconds until stopped."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), TALLY_EVERY_S)
            rows = [{"minute": m, "count": c} for m, c in activity.series(last=2) if c]
            if rows:
                self.store.submit("activity", rows)
            if stop.is_set():
                return

    # -- the backfill -------------------------------------------------------------------------

    async def run_backfill(
        self, agents_dir: Path, stop: asyncio.Event, *, busy: Callable[[], bool] = lambda: False
    ) -> None:
        """Fill the history from `agents_dir` in a child process; retried while it fails.

        It starts once `busy()` is false: the server's own first pass over the tree (the
        check of its first list, the first read of every transcript) reads the same files,
        and on two cores each made the other twice as slow, and live writes slower too.
        """
        url = self.store.engine.url.render_as_string(hide_password=False)
        self.backfill.state = "waiting"
        while busy():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), BUSY_POLL_S)
            if stop.is_set():
                self.backfill.state = "idle"
                return
        while not stop.is_set():
            self.backfill.state = "running"
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "livewatch.history.backfill", str(agents_dir),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env={**os.environ, DB_ENV: url},
            )  # fmt: skip
            waiting = asyncio.ensure_future(process.communicate())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not waiting.done():
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
                await waiting
                self.backfill.state = "idle"
                return
            stopping.cancel()
            out, err = waiting.result()
            if process.returncode == 0:
                report = json.loads(out.decode().strip().splitlines()[-1])
                self.backfill = BackfillState("done", report["runs"], report["seconds"])
                log.info("[HISTORY] backfilled %d runs in %.1fs", report["runs"], report["seconds"])
                await stop.wait()  # done for this process's life (a return would be restarted)
                return
            lines = [
                line
                for line in err.decode("utf-8", "replace").strip().splitlines()
                if line.strip() and not line.startswith("(Background on this error")
            ]
            self.backfill = BackfillState("failed", error=(lines or ["no output"])[-1][:300])
            log.error(
                "[HISTORY] backfill failed (%s); retrying in %.0fs",
                self.backfill.error,
                BACKFILL_RETRY_S,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), BACKFILL_RETRY_S)
