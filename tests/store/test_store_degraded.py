"""A database that cannot be written never takes the server down: degraded, bounded, retried.

We run as root in CI, and root ignores file permissions, so a read-only folder would not fail
here. The failures are made another way: a lock held by another connection, a file of garbage,
and a database path under a regular file (so its folder cannot be created).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_helpers import event, wait_until

from livewatch.store import EventStore, StoreError

GARBAGE = b"this is not a database, just bytes " * 300


def open_flaky(db: Path, **kwargs: object) -> EventStore:
    """A store that gives up on a lock quickly and retries often, so tests run fast."""
    return EventStore.open(db, busy_timeout_ms=50, retry_max_s=0.1, **kwargs)  # type: ignore[arg-type]


def store_lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


@pytest.fixture
def locked(db: Path) -> Iterator[sqlite3.Connection]:
    """Another process's connection holding the write lock."""
    with EventStore.open(db):
        pass
    other = sqlite3.connect(db, isolation_level=None)
    yield other
    other.close()


async def test_a_locked_database_degrades_then_recovers(
    db: Path, locked: sqlite3.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="livewatch.store")
    with open_flaky(db) as store:
        assert store.state == "ok"
        locked.execute("BEGIN IMMEDIATE")
        store.submit([event(1), event(2)])
        wait_until(lambda: store.state == "degraded")
        assert not await store.flush(timeout=0.3)  # not durable: the hook ingest must not ack
        assert store.query() == []  # reads still work beside a writer in WAL mode
        wait_until(lambda: store.status()["last_error"] is not None)
        assert "locked" in store.status()["last_error"]
        store.submit([event(3)])  # meanwhile, more arrives
        locked.execute("ROLLBACK")
        assert await store.flush(timeout=5)
        assert store.state == "ok"
        assert [row["seq"] for row in store.query()] == [3, 2, 1]
    # One clear line when it broke however often it retried, and one when it healed.
    assert len(store_lines(caplog, "[STORE] cannot write")) == 1
    assert len(store_lines(caplog, "is writable again")) == 1


def test_a_corrupt_file_at_startup_does_not_raise(db: Path) -> None:
    db.parent.mkdir()
    db.write_bytes(GARBAGE)
    with open_flaky(db) as store:
        assert store.state == "degraded"
        assert "not a database" in store.status()["last_error"]
        store.submit([event(1)])  # kept in memory
        assert not store.flush_sync(timeout=0.3)
        with pytest.raises(StoreError):
            store.query()
        db.unlink()  # the operator moves the broken file away
        assert store.flush_sync(timeout=5)
        assert store.state == "ok"
        assert store.get(1) is not None


def test_a_file_replaced_by_garbage_while_running(db: Path) -> None:
    with open_flaky(db) as store:
        store.submit([event(1)])
        assert store.flush_sync(timeout=5)
        replacement = db.with_name("garbage")
        replacement.write_bytes(GARBAGE)
        replacement.replace(db)
        store.submit([event(2)])
        wait_until(lambda: store.state == "degraded")
        db.unlink()
        assert store.flush_sync(timeout=5)
        # A fresh file at the path, with what came after the replacement.
        assert store.state == "ok" and store.get(2) is not None and store.get(1) is None


def test_a_path_that_cannot_be_created_then_can(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the folder should be")
    db = blocker / "events.db"
    with open_flaky(db) as store:
        assert store.state == "degraded"
        store.submit([event(1)], {"wf1/a.jsonl": (1, 10)})
        assert not store.flush_sync(timeout=0.3)
        blocker.unlink()
        assert store.flush_sync(timeout=5)
        assert store.state == "ok"
        assert store.max_seq() == 1 and store.offsets() == {"wf1/a.jsonl": (1, 10)}


async def test_the_backlog_is_bounded_and_drops_the_oldest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("")
    with open_flaky(blocker / "events.db", max_pending=10) as store:
        for seq in range(1, 26):
            store.submit([event(seq)])
        assert store.dropped == 15
        assert store.status()["pending"] == 10
        assert not await store.flush(3, timeout=5)  # dropped: known at once, no waiting
        assert len(store_lines(caplog, "dropping the oldest")) == 1
        blocker.unlink()
        assert await store.flush(timeout=5)
        assert [row["seq"] for row in store.recent(100)] == list(range(16, 26))
        assert store.status()["state"] == "ok"


def test_close_while_degraded_does_not_hang(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("")
    store = open_flaky(blocker / "events.db")
    store.submit([event(1)])
    store.close(timeout=5)
    assert store.dropped == 1


def test_a_removed_file_is_recreated_without_its_old_log(db: Path) -> None:
    with open_flaky(db) as store:
        store.submit([event(1)])
        assert store.flush_sync(timeout=5)
        db.unlink()  # `rm events.db`, leaving events.db-wal and -shm behind
        store.submit([event(2)])
        assert store.flush_sync(timeout=5)
        # The old log was not replayed into the new file: only what came after.
        assert store.get(1) is None and store.get(2) is not None
        assert store.state == "ok"
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_it_recovers_without_traffic(db: Path) -> None:
    db.parent.mkdir()
    db.write_bytes(GARBAGE)
    with open_flaky(db) as store:
        assert store.state == "degraded"
        db.unlink()
        wait_until(lambda: store.state == "ok")
        assert store.max_seq() == 0
