"""After `flush`, events survive the process being SIGKILLed (WAL + synchronous=NORMAL)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from livewatch.store import EventStore

ROOT = Path(__file__).resolve().parents[2]

# Writes 5,000 events and flushes them, says so, then keeps writing without flushing until it
# is killed: the kill lands in the middle of a batch.
WRITER = """
import asyncio, sys
from livewatch.hub.events import new_event
from livewatch.store import EventStore

def event(seq):
    return new_event(seq=seq, ts=seq, source="hook", agent="s", kind="hook",
                     summary=f"e{seq}", payload="p" * 500, origin=f"hook:{seq}")

async def main():
    store = EventStore.open(sys.argv[1], retention_days=None)
    for start in range(1, 5001, 100):
        store.submit([event(seq) for seq in range(start, start + 100)])
    assert await store.flush(timeout=60)
    print("ok", flush=True)
    seq = 5001
    while True:
        store.submit([event(s) for s in range(seq, seq + 200)])
        seq += 200
        await asyncio.sleep(0.001)

asyncio.run(main())
"""


def test_flushed_events_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == "ok", child.stderr.read() if child.stderr else line
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with EventStore.open(db, retention_days=None) as store:
        assert store.max_seq() >= 5000
        stored = {row["seq"] for row in store.recent(store.max_seq())}
        assert set(range(1, 5001)) <= stored
