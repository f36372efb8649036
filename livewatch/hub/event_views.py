"""What open event feeds show, computed once per distinct filter per tick, not once per tab.

Events arrive by the thousand each second and most tabs show the same (unfiltered) feed.
A `FeedTicker` takes the events since its last tick once, filters them once per distinct
filter, and hands each filter's rows to every feed that uses it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from livewatch.hub.event_filter import EventFilter
from livewatch.hub.event_log import EventLog

# What a feed row carries to the browser: every byte here goes to every open tab.
ROW_FIELDS = ("seq", "ts", "adw_id", "agent", "app", "kind", "tool", "summary", "is_error")


def feed_row(event: dict[str, Any]) -> dict[str, Any]:
    """The browser's form of an event: the fields a row shows, empty ones left out."""
    return {name: value for name in ROW_FIELDS if (value := event.get(name)) not in (None, "")}


def initial_rows(log: EventLog, matching: EventFilter, limit: int) -> list[dict[str, Any]]:
    """A new feed's first rows: the newest `limit` that match, newest first."""
    return [feed_row(e) for e in reversed(log.recent(limit, matching))]


class FeedTicker:
    """New rows per filter since the last tick."""

    def __init__(self, log: EventLog, *, limit: int) -> None:
        self.log = log
        self.limit = limit
        self.cursor = log.seq

    @property
    def pending(self) -> bool:
        """Whether events came since the last tick."""
        return self.log.seq != self.cursor

    def tick(self, filters: Iterable[EventFilter]) -> dict[EventFilter, list[dict[str, Any]]]:
        """Each filter's new rows, newest first (at most `limit`); {} when nothing is new."""
        if not self.pending:
            return {}
        fresh = self.log.since(self.cursor)
        if fresh is None:  # a burst larger than the log's window: the newest are enough
            fresh = self.log.recent(self.limit)
        self.cursor = self.log.seq
        rows: dict[EventFilter, list[dict[str, Any]]] = {}
        for matching in set(filters):
            chosen = fresh if matching.is_empty else [e for e in fresh if matching.matches(e)]
            rows[matching] = [feed_row(e) for e in reversed(chosen[-self.limit :])]
        return rows


def merge_newest(
    stored: list[dict[str, Any]], window: list[dict[str, Any]], limit: int
) -> list[dict[str, Any]]:
    """Stored and in-memory events as one list, oldest first, without twins, the newest
    `limit` of them (the window holds what the store may not have written yet)."""
    by_seq = {e["seq"]: e for e in stored}
    by_seq.update((e["seq"], e) for e in window)
    return [feed_row(by_seq[seq]) for seq in sorted(by_seq)[-limit:]]
