"""The hub: one truth, real changes only, numbered, remembered, fanned out to bounded buffers."""

from __future__ import annotations

import asyncio

from livewatch.hub.collection import Collection, SubscriptionState
from livewatch.hub.hub import Hub
from livewatch.hub.records import workflow_key


def wf(adw_id: str, phase: str = "plan") -> dict[str, object]:
    return {"adw_id": adw_id, "phase": phase}


def make(history: int = 100, queue: int = 10) -> Collection:
    return Collection("workflows", workflow_key, history_size=history, queue_size=queue)


def test_apply_numbers_only_real_changes() -> None:
    c = make()
    first = c.apply([wf("a"), wf("b")])
    assert first is not None and first.seq == 1
    assert c.apply([wf("a")]) is None  # the same record again is no change
    second = c.apply([wf("a", "build")], remove=["b", "nope"])
    assert second is not None
    assert (second.seq, second.upsert, second.remove) == (2, (wf("a", "build"),), ("b",))
    assert c.snapshot().records == [wf("a", "build")]


def test_replace_removes_what_is_gone() -> None:
    c = make()
    c.apply([wf("a"), wf("b"), wf("c")])
    change = c.replace([wf("b"), wf("c", "test")])
    assert change is not None
    assert change.remove == ("a",)
    assert change.upsert == (wf("c", "test"),)
    assert [r["adw_id"] for r in c.records()] == ["b", "c"]


def test_since_replays_history_or_says_it_cannot() -> None:
    c = make(history=3)
    for phase in ("plan", "build", "test", "review", "document"):
        c.apply([wf("a", phase)])
    assert c.seq == 5
    assert c.since(5) == []
    assert [ch.seq for ch in c.since(2) or []] == [3, 4, 5]
    assert c.since(1) is None  # change 2 has left the bounded history
    assert c.since(9) is None  # from the future: another epoch


async def test_subscribers_get_every_change_in_order() -> None:
    c = make()
    with c.subscribe() as one, c.subscribe() as two:
        c.apply([wf("a")])
        c.apply([wf("b")])
        for sub in (one, two):
            assert [ch.seq for ch in await sub.next_batch()] == [1, 2]
    assert c.subscriber_count == 0


async def test_a_slow_subscriber_overflows_alone() -> None:
    c = make(queue=3)
    slow, fast = c.subscribe(), c.subscribe()
    for i in range(5):
        c.apply([wf(f"w{i}")])
        assert len(await fast.next_batch()) == 1
    assert slow.state is SubscriptionState.OVERFLOWED
    assert await slow.next_batch() == []
    assert fast.state is SubscriptionState.OPEN
    assert c.subscriber_count == 1


async def test_a_latest_only_subscriber_keeps_the_newest_change_and_never_overflows() -> None:
    c = make(queue=3)
    whole_lists = c.subscribe(latest_only=True)
    for i in range(50):
        c.apply([wf(f"w{i}")])
    assert whole_lists.state is SubscriptionState.OPEN
    [newest] = await whole_lists.next_batch()
    assert newest.seq == c.seq


async def test_close_wakes_a_waiting_subscriber() -> None:
    hub = Hub.create()
    sub = hub.workflows.subscribe()
    waiter = asyncio.create_task(sub.next_batch())
    await asyncio.sleep(0)
    hub.close()
    assert await asyncio.wait_for(waiter, 1) == []
    assert sub.state is SubscriptionState.CLOSED


def test_records_are_sorted_and_cached_per_seq() -> None:
    c = make()
    c.apply([wf("b"), wf("a")])
    first = c.records()
    assert [r["adw_id"] for r in first] == ["a", "b"]
    assert c.records() is first
    c.apply([wf("c")])
    assert c.records() is not first


def test_a_shared_log_numbers_the_changes() -> None:
    c = make()
    assert c.apply([wf("a")], seq=10) is not None
    assert c.seq == 10
    assert c.apply([wf("a")], seq=11) is None  # no change here, but the position moves on
    assert c.seq == 11
    change = c.apply([wf("b")], seq=12)
    assert change is not None and change.seq == 12


async def test_adopt_takes_over_records_seq_and_epoch() -> None:
    c = make()
    c.apply([wf("a"), wf("b")])
    with c.subscribe() as sub:
        change = c.adopt([wf("b"), wf("c")], seq=500, epoch="shared")
        assert change is not None and set(change.remove) == {"a"}
        assert [c.remove for c in await sub.next_batch()] == [("a",)]  # subscribers hear it
    assert (c.seq, c.epoch) == (500, "shared")
    assert c.since(499) is None  # history restarts at the adopted position
    assert c.since(500) == []
