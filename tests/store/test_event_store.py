"""Writing events in batches off the event loop, and reading them back for the REST API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_helpers import event

from livewatch.hub.events import EVENT_FIELDS
from livewatch.store import EventStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, db: Path) -> Iterator[EventStore]:
    """The same store on either database: replicas share a PostgreSQL one."""
    where = str(db) if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    opened = EventStore.open(where, retention_days=None, max_events=None)
    yield opened
    opened.close()


def seqs(rows: list[dict[str, object]]) -> list[object]:
    return [row["seq"] for row in rows]


def fill(store: EventStore) -> None:
    """Ten events across two workflows, three agents, two apps, tools and kinds."""
    store.submit(
        [
            event(1, kind="init", summary="Session started", model="opus"),
            event(2, kind="tool_use", tool="Bash", summary="ls -la"),
            event(3, kind="tool_result", tool="Bash", summary="README.md", is_error=True),
            event(4, agent="reviewer", kind="message", summary="Looks GOOD to me"),
            event(5, adw_id="wf2", agent="builder", kind="tool_use", tool="Edit", summary="x"),
            event(6, source="hook", adw_id=None, agent="s-1", app="app-a", kind="hook",
                  hook_event_type="PreToolUse", tool="Read", summary="read 50%_done", origin=None),
            event(7, source="hook", adw_id=None, agent="s-1", app="app-b", kind="hook",
                  hook_event_type="Stop", summary="stopped", origin=None),
            event(8, kind="result", summary="done", tokens_in=10, tokens_out=20, cost_usd=0.5),
            event(9, kind="message", summary="good news"),
            event(10, kind="error", summary="boom", is_error=True),
        ]
    )  # fmt: skip
    assert store.flush_sync(timeout=5)


def test_every_filter_newest_first(store: EventStore) -> None:
    fill(store)
    assert seqs(store.query()) == [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    assert seqs(store.query(workflow="wf2")) == [5]
    assert seqs(store.query(agent="reviewer")) == [4]
    assert seqs(store.query(app="app-a")) == [6]
    assert seqs(store.query(kind="tool_use")) == [5, 2]
    assert seqs(store.query(tool="Bash")) == [3, 2]
    assert seqs(store.query(workflow="wf1", kind="message")) == [9, 4]
    assert seqs(store.query(workflow="nope")) == []


def test_q_is_a_case_insensitive_substring_of_summary_tool_or_agent(store: EventStore) -> None:
    fill(store)
    assert seqs(store.query(q="good")) == [9, 4]
    assert seqs(store.query(q="bash")) == [3, 2]  # the tool
    assert seqs(store.query(q="REVIEW")) == [4]  # the agent
    assert seqs(store.query(q="50%_")) == [6]  # LIKE wildcards are taken literally
    assert seqs(store.query(q="%")) == [6]


def test_rows_carry_the_public_fields_only(store: EventStore) -> None:
    fill(store)
    row = store.query(kind="result")[0]
    assert list(row) == list(EVENT_FIELDS)
    assert row["tokens_in"] == 10 and row["tokens_out"] == 20 and row["cost_usd"] == 0.5
    assert store.query(kind="tool_result")[0]["is_error"] is True
    assert store.query(kind="init")[0]["is_error"] is False


def test_paging_before_and_after(store: EventStore) -> None:
    fill(store)
    assert seqs(store.query(limit=3)) == [10, 9, 8]
    assert seqs(store.query(limit=3, before=8)) == [7, 6, 5]
    # `after` is the page just after it, so catching up never skips events.
    assert seqs(store.query(limit=3, after=2)) == [5, 4, 3]
    assert seqs(store.query(after=8)) == [10, 9]
    assert seqs(store.query(after=2, before=6, limit=10)) == [5, 4, 3]
    assert seqs(store.query(tool="Bash", before=3)) == [2]


def test_limit_is_clamped(store: EventStore) -> None:
    store.submit([event(seq) for seq in range(1, 1101)])
    assert store.flush_sync(timeout=10)
    assert len(store.query(limit=0)) == 1
    assert len(store.query(limit=-5)) == 1
    assert len(store.query(limit=5000)) == 1000


def test_get_returns_the_payload_and_origin(store: EventStore) -> None:
    big = "x" * 5_000_000  # a hook `chat` body can be many MB
    store.submit([event(1, payload=big)])
    assert store.flush_sync(timeout=5)
    row = store.get(1)
    assert row is not None
    assert row["payload"] == big and row["origin"] == "file:wf1/planner@100"
    assert store.get(2) is None
    assert "payload" not in store.query()[0]


def test_recent_is_the_newest_oldest_first(store: EventStore) -> None:
    fill(store)
    assert seqs(store.recent(3)) == [8, 9, 10]
    assert seqs(store.recent(100)) == list(range(1, 11))
    assert store.recent(0) == []


def test_tail_pages_one_transcript(store: EventStore) -> None:
    fill(store)
    assert seqs(store.tail("wf1", "planner", limit=10)) == [1, 2, 3, 8, 9, 10]
    assert seqs(store.tail("wf1", "planner", limit=3)) == [8, 9, 10]
    page = store.tail("wf1", "planner", limit=2, before=8, payload=True)
    assert seqs(page) == [2, 3]
    assert page[-1]["payload"] == '{"n": 3}'
    assert seqs(store.tail("wf1", "planner", limit=2, before=2)) == [1]
    assert "payload" not in store.tail("wf1", "planner")[0]


def test_distinct_values(store: EventStore) -> None:
    fill(store)
    assert store.distinct_values() == {
        "apps": ["app-a", "app-b"],
        "agents": ["builder", "planner", "reviewer", "s-1"],
        "tools": ["Bash", "Edit", "Read"],
        "kinds": ["error", "hook", "init", "message", "result", "tool_result", "tool_use"],
        "workflows": ["wf1", "wf2"],
    }
    # Bounded to the newest events: only seqs 9 and 10 here.
    assert store.distinct_values(window=2)["kinds"] == ["error", "message"]


def test_the_same_origin_is_stored_once(store: EventStore) -> None:
    store.submit([event(1, origin="file:wf1/planner@0")])
    store.submit([event(2, origin="file:wf1/planner@0", summary="read again")])
    store.submit([event(3, origin=None), event(4, origin=None)])  # hooks: no origin, all kept
    store.submit([event(1)])  # a batch written twice (its first commit's answer was lost)
    assert store.flush_sync(timeout=5)
    assert seqs(store.query()) == [4, 3, 1]
    assert store.status()["state"] == "ok"


def test_offsets_are_upserted(store: EventStore) -> None:
    assert store.offsets() == {}
    store.submit([], {"wf1/planner/raw_output.jsonl": (11, 100), "wf1/b/raw.jsonl": (12, 5)})
    store.submit([event(1)], {"wf1/planner/raw_output.jsonl": (11, 250)})
    assert store.flush_sync(timeout=5)
    assert store.offsets() == {
        "wf1/planner/raw_output.jsonl": (11, 250),
        "wf1/b/raw.jsonl": (12, 5),
    }
    store.submit([], {"wf1/b/raw.jsonl": (99, 0)})  # replaced file: new inode, from the start
    assert store.flush_sync(timeout=5)
    assert store.offsets()["wf1/b/raw.jsonl"] == (99, 0)


def test_an_event_without_seq_is_refused_at_once(store: EventStore) -> None:
    for bad in (None, True, 0, "7"):
        with pytest.raises(ValueError, match="seq"):
            store.submit([{**event(1), "seq": bad}])  # type: ignore[typeddict-item]


def test_odd_values_are_cleaned_not_fatal(store: EventStore) -> None:
    store.submit(
        [event(1, summary="nul\x00here", tokens_in="12", cost_usd=float("nan"), tokens_out=2**70)]
    )
    assert store.flush_sync(timeout=5)
    row = store.get(1)
    assert row is not None
    assert row["summary"] == "nul\ufffdhere" and row["tokens_in"] == 12
    assert row["cost_usd"] is None and row["tokens_out"] is None


async def test_flush_waits_for_the_commit(store: EventStore) -> None:
    assert await store.flush()  # nothing submitted: at once
    store.submit([event(1), event(2)])
    assert await store.flush(2, timeout=5)
    assert store.max_seq() == 2
    store.submit([event(3)])
    assert await store.flush(timeout=5)
    assert store.get(3) is not None
    assert await store.flush(1)  # long durable
    assert store.status()["durable_seq"] == 3


async def test_many_flushes_at_once(store: EventStore) -> None:
    async def ingest(seq: int) -> bool:
        store.submit([event(seq, origin=None)])
        return await store.flush(seq, timeout=5)

    assert all(await asyncio.gather(*(ingest(seq) for seq in range(1, 201))))
    assert store.max_seq() == 200


def test_close_writes_what_is_queued(db: Path) -> None:
    store = EventStore.open(db)
    store.submit([event(seq) for seq in range(1, 501)])
    store.close()
    store.close()  # twice is fine
    with EventStore.open(db) as again:
        assert again.max_seq() == 500


def test_twenty_thousand_events_well_within_ten_seconds(store: EventStore) -> None:
    """Sanity bound only (2,000 events/s must be easy); bench/ has the real numbers."""
    events = [event(seq, payload="p" * 300) for seq in range(1, 20_001)]
    started = time.monotonic()
    for start in range(0, len(events), 100):  # as a busy hub would: many small submits
        store.submit(events[start : start + 100])
    assert store.flush_sync(timeout=30)
    elapsed = time.monotonic() - started
    assert store.max_seq() == 20_000
    assert elapsed < 10, f"20,000 events took {elapsed:.1f}s"


async def test_flush_after_close_answers_at_once(db: Path) -> None:
    store = EventStore.open(db)
    store.submit([event(1)])
    store.close()
    assert await store.flush(timeout=5)
    store.submit([event(2)])  # too late: counted, not written
    assert store.dropped == 1
    assert not await store.flush(2)
