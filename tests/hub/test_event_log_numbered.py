"""Events numbered elsewhere (the Redis stream): appended under their own seqs, never back."""

from __future__ import annotations

from livewatch.hub.event_log import EventLog
from livewatch.hub.events import new_event


def numbered(*seqs: int) -> list:
    return [new_event(agent="a", kind="message", summary=f"s{seq}", seq=seq) for seq in seqs]


def test_numbered_events_keep_their_seqs_which_may_skip() -> None:
    log = EventLog()
    log.start_at(10)  # the store's newest
    seen: list[int] = []
    log.observe(lambda batch: seen.extend(e["seq"] for e in batch))
    batch = log.append(numbered(15, 16, 40), numbered=True)
    assert batch is not None and batch.seq == log.seq == 40
    assert [e["seq"] for e in batch.events] == [15, 16, 40] == seen
    assert [e["seq"] for e in log.since(16)] == [40]
    # Local numbering, should it ever follow, goes on above.
    assert log.append(numbered(0)) is not None and log.seq == 41


def test_a_numbered_event_at_or_below_the_current_seq_is_left_out() -> None:
    log = EventLog()
    log.start_at(20)
    assert log.append(numbered(5, 20), numbered=True) is None
    batch = log.append(numbered(19, 21, 21, 22), numbered=True)
    assert batch is not None
    assert [e["seq"] for e in batch.events] == [21, 22]
    assert [e["seq"] for e in log.recent(10)] == [21, 22]
