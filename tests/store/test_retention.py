"""Old events go by age and by count, in small chunks, and the writer prunes on its own."""

from __future__ import annotations

from pathlib import Path

from store_helpers import BASE_TS, event, wait_until

from livewatch.store import EventStore
from livewatch.store.events import DAY_MS


def test_prune_by_age(db: Path) -> None:
    now = BASE_TS
    with EventStore.open(db, retention_days=2, max_events=None, prune_every_s=3600) as store:
        store.submit(
            [
                event(1, ts=now - 5 * DAY_MS),
                event(2, ts=now - 3 * DAY_MS),
                event(3, ts=now - 1 * DAY_MS),
                event(4, ts=now),
                event(5, ts=now - 4 * DAY_MS),  # read late from an old transcript
            ]
        )
        assert store.flush_sync(timeout=5)
        assert store.prune(now) == 3
        assert [row["seq"] for row in store.query()] == [4, 3]
        assert store.prune(now) == 0


def test_prune_by_count_keeps_the_newest(db: Path) -> None:
    with EventStore.open(db, retention_days=None, max_events=25, prune_every_s=3600) as store:
        store.submit([event(seq) for seq in range(1, 101)])
        assert store.flush_sync(timeout=5)
        store.prune_chunk = 10  # many short transactions, not one long lock
        assert store.prune() == 75
        assert [row["seq"] for row in store.recent(1000)] == list(range(76, 101))


def test_retention_of_none_keeps_everything(db: Path) -> None:
    with EventStore.open(db, retention_days=None, max_events=None) as store:
        store.submit([event(1, ts=1)])
        assert store.flush_sync(timeout=5)
        assert store.prune() == 0


def test_the_writer_prunes_after_startup_and_then_periodically(db: Path) -> None:
    with EventStore.open(db, retention_days=None, max_events=None) as store:
        store.submit([event(seq) for seq in range(1, 51)])
        assert store.flush_sync(timeout=5)
    # Reopened with a cap: the writer prunes right away, without being asked.
    with EventStore.open(db, retention_days=None, max_events=20, prune_every_s=0.05) as store:
        wait_until(lambda: store.max_seq() == 50 and len(store.recent(1000)) == 20)
        # ... and again once more has been written.
        store.submit([event(seq) for seq in range(51, 61)])
        assert store.flush_sync(timeout=5)
        wait_until(lambda: [r["seq"] for r in store.recent(1000)] == list(range(41, 61)))
