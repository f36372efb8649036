"""The activity chart's tally survives a restart: saved by one process, restored by the next."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from livewatch.history.service import History
from livewatch.hub.activity import Activity
from livewatch.store.database import database_url, open_engine
from livewatch.store.history import HistoryStore


async def test_the_last_hour_is_saved_and_restored(tmp_path: Path) -> None:
    engine = open_engine(database_url(tmp_path / "tally.db"))
    history = History(HistoryStore(engine))
    history.store.start()
    now = time.time()
    before = Activity()
    before.record(7, now - 60)  # the minute before
    before.record(3, now)
    stop = asyncio.Event()
    stop.set()  # one round: save what there is, then stop
    await history.keep_activity(before, stop)
    assert history.store.flush_sync(timeout=10)
    after = Activity()
    history.restore_activity(after, now=now)
    series = dict(after.series(now))
    assert series[int(now // 60 * 60)] == 3 and series[int(now // 60 * 60) - 60] == 7
    history.close()
    engine.dispose()
