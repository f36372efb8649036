"""Changes per minute over the last hour, for the dashboard's activity chart."""

from __future__ import annotations

import time
from collections import deque

from livewatch.hub.collection import Collection


class Activity:
    """Counts changed records per minute in a ring of `minutes` buckets."""

    def __init__(self, minutes: int = 60) -> None:
        self.minutes = minutes
        self._buckets: deque[tuple[int, int]] = deque()  # (minute, count), oldest first

    def record(self, count: int, ts: float | None = None) -> None:
        minute = int((time.time() if ts is None else ts) // 60)
        if self._buckets and self._buckets[-1][0] == minute:
            self._buckets[-1] = (minute, self._buckets[-1][1] + count)
        else:
            self._buckets.append((minute, count))
        while self._buckets and self._buckets[0][0] <= minute - self.minutes:
            self._buckets.popleft()

    def series(self, now: float | None = None) -> list[tuple[int, int]]:
        """(minute start as epoch seconds, changes) for each of the last `minutes` minutes."""
        current = int((time.time() if now is None else now) // 60)
        counts = dict(self._buckets)
        return [(m * 60, counts.get(m, 0)) for m in range(current - self.minutes + 1, current + 1)]

    def follow(self, collection: Collection) -> None:
        """Count every change of `collection` from now on."""
        collection.observe(
            lambda change: self.record(len(change.upsert) + len(change.remove), change.ts)
        )
