"""Counts over time in fixed buckets: changes per minute for the dashboard's activity chart,
agent events per second for the events page's pulse."""

from __future__ import annotations

import time
from collections import deque

from livewatch.hub.collection import Collection
from livewatch.hub.event_log import EventLog


class Activity:
    """Counts per bucket of `bucket_s` seconds, in a ring of the last `buckets` of them."""

    def __init__(self, minutes: int = 60, *, bucket_s: int = 60) -> None:
        self.buckets = minutes
        self.bucket_s = bucket_s
        self._counts: deque[tuple[int, int]] = deque()  # (bucket, count), oldest first

    def record(self, count: int, ts: float | None = None) -> None:
        bucket = int((time.time() if ts is None else ts) // self.bucket_s)
        if self._counts and self._counts[-1][0] == bucket:
            self._counts[-1] = (bucket, self._counts[-1][1] + count)
        else:
            self._counts.append((bucket, count))
        while self._counts and self._counts[0][0] <= bucket - self.buckets:
            self._counts.popleft()

    def series(self, now: float | None = None, last: int | None = None) -> list[tuple[int, int]]:
        """(bucket start as epoch seconds, count) for each of the last `last` buckets."""
        current = int((time.time() if now is None else now) // self.bucket_s)
        counts = dict(self._counts)
        span = min(last or self.buckets, self.buckets)
        return [
            (b * self.bucket_s, counts.get(b, 0)) for b in range(current - span + 1, current + 1)
        ]

    def rate(self, now: float | None = None, seconds: int = 5) -> float:
        """The mean count per second over the last `seconds` whole seconds."""
        at = time.time() if now is None else now
        # The current bucket is still filling: leave it out, or the rate would dip.
        series = self.series(at - self.bucket_s, last=max(1, seconds // self.bucket_s))
        return sum(count for _, count in series) / max(1, len(series) * self.bucket_s)

    def follow(self, collection: Collection) -> None:
        """Count every change of `collection` from now on."""
        collection.observe(
            lambda change: self.record(len(change.upsert) + len(change.remove), change.ts)
        )

    def follow_events(self, log: EventLog) -> None:
        """Count every agent event from now on."""
        log.observe(lambda events: self.record(len(events)))
