"""The event log: numbers only grow, a bounded window, batches to bounded subscribers."""

from __future__ import annotations

import asyncio
from typing import Any

from livewatch.hub.collection import SubscriptionState
from livewatch.hub.event_filter import EventFilter
from livewatch.hub.event_log import EventLog
from livewatch.hub.events import Event, new_event


def events(n: int, **fields: object) -> list:
    return [new_event(agent="a", kind="message", summary=f"line {i}", **fields) for i in range(n)]


def test_append_numbers_each_event_and_keeps_no_payload_in_the_window() -> None:
    log = EventLog()
    log.start_at(41)  # the store's newest: numbers continue after it
    batch = log.append(events(3, payload="secret raw line"))
    assert batch is not None
    assert [e["seq"] for e in batch.events] == [42, 43, 44]
    assert log.seq == batch.seq == 44
    assert all("payload" not in e for e in log.recent(10))
    assert log.append([]) is None


def test_the_window_is_bounded_and_since_says_when_it_no_longer_reaches() -> None:
    log = EventLog(window=5)
    log.append(events(8))
    assert [e["seq"] for e in log.recent(100)] == [4, 5, 6, 7, 8]
    assert [e["seq"] for e in log.since(6)] == [7, 8]
    assert log.since(8) == []
    assert log.since(2) is None  # 3 has left the window
    assert log.since(99) is None


def test_recent_filters_and_returns_the_newest_oldest_first() -> None:
    log = EventLog()
    log.append(events(3, adw_id="w1") + events(2, adw_id="w2"))
    shown = log.recent(2, EventFilter(workflow="w1"))
    assert [e["seq"] for e in shown] == [2, 3]


async def test_a_slow_subscriber_overflows_alone() -> None:
    log = EventLog(queue_size=2)
    slow, fast = log.subscribe(), log.subscribe()
    for _ in range(3):
        log.append(events(1))
        assert len(await fast.next_batch()) == 1
    assert slow.state is SubscriptionState.OVERFLOWED
    assert fast.state is SubscriptionState.OPEN
    assert log.subscriber_count == 1


async def test_observers_see_payloads_in_order() -> None:
    log = EventLog()
    seen: list[tuple[int, str]] = []
    log.observe(lambda batch: seen.extend((e["seq"], e["payload"]) for e in batch))
    log.append(events(2, payload="raw"))
    await asyncio.sleep(0)
    assert seen == [(1, "raw"), (2, "raw")]


def test_public_observers_get_each_event_with_the_broadcast_form_the_ring_keeps() -> None:
    log = EventLog()
    pairs: list[tuple[Event, dict[str, Any]]] = []
    log.observe_public(lambda batch, shown: pairs.extend(zip(batch, shown, strict=True)))
    log.append(events(2, payload="raw"))
    assert [(e["seq"], e["payload"]) for e, _ in pairs] == [(1, "raw"), (2, "raw")]
    assert [shown for _, shown in pairs] == log.recent(2)
    assert all("payload" not in shown for _, shown in pairs)


def test_a_batch_is_encoded_once_per_form() -> None:
    log = EventLog()
    batch = log.append(events(1))
    assert batch is not None
    calls = []
    for _ in range(3):
        batch.encoded("all", lambda: calls.append(1) or "text")
    assert calls == [1]
