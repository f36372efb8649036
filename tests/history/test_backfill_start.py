"""The backfill child starts once the server's own first pass over the tree is done."""

from __future__ import annotations

import asyncio
from pathlib import Path

from livewatch.demo.writer import AgentsWriter
from livewatch.history.service import History
from livewatch.store.database import database_url, open_engine


async def test_the_backfill_waits_while_the_server_is_busy_then_fills(tmp_path: Path) -> None:
    agents = AgentsWriter(tmp_path / "agents")
    agents.write("aaaa1111", issue_number=1)
    history = History.open(open_engine(database_url(tmp_path / "lw.db")))
    busy, stop = [True], asyncio.Event()
    task = asyncio.create_task(
        history.run_backfill(tmp_path / "agents", stop, busy=lambda: busy[0])
    )
    try:
        await asyncio.sleep(1.2)  # two polls: still waiting, no child yet
        assert history.backfill.state == "waiting"
        busy[0] = False  # the first list is verified
        for _ in range(300):
            if history.backfill.state in ("done", "failed"):
                break
            await asyncio.sleep(0.1)
        assert (history.backfill.state, history.backfill.runs) == ("done", 1)
    finally:
        stop.set()
        await task
        history.close()
