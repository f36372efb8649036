"""Open feeds share work: new events are taken once and filtered once per distinct filter."""

from __future__ import annotations

from livewatch.hub.event_filter import EventFilter
from livewatch.hub.event_log import EventLog
from livewatch.hub.event_views import FeedTicker, feed_row, initial_rows, merge_newest
from livewatch.hub.events import new_event


def test_a_tick_gives_each_filter_its_new_rows_newest_first() -> None:
    log = EventLog()
    ticker = FeedTicker(log, limit=100)
    log.append([new_event(adw_id=w, agent="a", kind="message") for w in ("w1", "w2", "w1")])
    everything, only_w1 = EventFilter(), EventFilter(workflow="w1")
    rows = ticker.tick([everything, only_w1, EventFilter(workflow="w1")])
    assert [r["seq"] for r in rows[everything]] == [3, 2, 1]
    assert [r["seq"] for r in rows[only_w1]] == [3, 1]
    assert ticker.tick([everything]) == {}  # nothing new since


def test_a_ticker_says_whether_anything_came_without_looking_at_filters() -> None:
    log = EventLog()
    ticker = FeedTicker(log, limit=10)
    assert not ticker.pending
    log.append([new_event(agent="a", kind="message")])
    assert ticker.pending
    ticker.tick([EventFilter()])
    assert not ticker.pending


def test_a_burst_beyond_the_window_gives_the_newest() -> None:
    log = EventLog(window=10)
    ticker = FeedTicker(log, limit=5)
    log.append([new_event(agent="a", kind="message") for _ in range(50)])
    rows = ticker.tick([EventFilter()])
    assert [r["seq"] for r in rows[EventFilter()]] == [50, 49, 48, 47, 46]


def test_rows_leave_out_empty_fields_and_payloads() -> None:
    row = feed_row(new_event(seq=1, ts=5, agent="a", kind="message", summary="hi", payload="x"))
    assert row == {"seq": 1, "ts": 5, "agent": "a", "kind": "message", "summary": "hi",
                   "is_error": False}  # fmt: skip


def test_initial_rows_and_merges() -> None:
    log = EventLog()
    log.append([new_event(agent="a", kind="message") for _ in range(4)])
    assert [r["seq"] for r in initial_rows(log, EventFilter(), 2)] == [4, 3]
    stored = [{"seq": 1, "agent": "a"}, {"seq": 2, "agent": "a"}]
    window = [{"seq": 2, "agent": "a"}, {"seq": 3, "agent": "a"}]
    assert [r["seq"] for r in merge_newest(stored, window, 2)] == [2, 3]
