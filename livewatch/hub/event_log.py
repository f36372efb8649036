"""The live stream of agent events: numbered, kept in a bounded window, fanned out in batches.

Unlike a `Collection` (records that change in place), events only append. `append()` numbers
a batch, keeps the public form of each event in a ring (for resuming clients and the first
message of a new one) and offers the batch to every subscriber's bounded buffer. Observers
(the store's writer, the workflows' "now" cell) see every event with its payload, in order.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from livewatch.hub.broadcast_log import BroadcastLog
from livewatch.hub.collection import Subscription
from livewatch.hub.event_filter import EventFilter
from livewatch.hub.events import Event, public


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Events appended together; `seq` is the last one's number."""

    seq: int
    ts: float
    events: tuple[dict[str, Any], ...]  # public form: no payload
    _encoded: dict[str, str] = field(default_factory=dict, compare=False)

    def encoded(self, key: str, encode: Callable[[], str]) -> str:
        """One encoding per batch and form, shared by every client that wants it."""
        text = self._encoded.get(key)
        if text is None:
            text = self._encoded[key] = encode()
        return text


@dataclass
class EventLog:
    """Every agent event since start, the newest `window` of them in memory."""

    name: str = "events"
    window: int = 10_000
    queue_size: int = 1024
    epoch: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    seq: int = 0
    last_event_ts: float | None = None

    def __post_init__(self) -> None:
        self._ring: deque[dict[str, Any]] = deque(maxlen=self.window)
        self._subscribers: set[Subscription[EventBatch]] = set()
        self._observers: list[Callable[[list[Event]], None]] = []
        self._pair_observers: list[Callable[[list[Event], Sequence[dict[str, Any]]], None]] = []
        self._broadcast_log = BroadcastLog(self.name)

    def __len__(self) -> int:
        return len(self._ring)

    def start_at(self, seq: int) -> None:
        """Continue numbering after `seq` (the store's newest), so numbers only grow."""
        self.seq = max(self.seq, seq)

    def append(self, events: Iterable[Event], *, numbered: bool = False) -> EventBatch | None:
        """Number the events, keep them and offer them to every subscriber as one batch.

        With `numbered`, the events bring their own `seq` (a shared log's, like the Redis
        stream's, so every replica numbers them alike): numbers may skip but never go back,
        so an event at or below the current seq is left out. None when nothing was appended.
        """
        now = time.time()
        if numbered:
            batch = []
            for event in events:
                if int(event["seq"]) > self.seq:
                    self.seq = int(event["seq"])
                    batch.append(event)
        else:
            batch = list(events)
            for event in batch:
                self.seq += 1
                event["seq"] = self.seq
        if not batch:
            return None
        for event in batch:
            event.setdefault("ts", int(now * 1000))
        shown = tuple(public(event) for event in batch)
        self._ring.extend(shown)
        self.last_event_ts = now
        for observe in self._observers:
            observe(batch)
        for observe_pairs in self._pair_observers:
            observe_pairs(batch, shown)
        result = EventBatch(self.seq, now, shown)
        for subscriber in list(self._subscribers):
            subscriber.offer(result)
        self._broadcast_log.broadcasted(len(shown), len(self._subscribers))
        return result

    def recent(self, limit: int, matching: EventFilter | None = None) -> list[dict[str, Any]]:
        """The newest `limit` events that match, oldest first."""
        found: list[dict[str, Any]] = []
        for event in reversed(self._ring):
            if len(found) >= limit:
                break
            if matching is None or matching.matches(event):
                found.append(event)
        found.reverse()
        return found

    def since(self, seq: int) -> list[dict[str, Any]] | None:
        """The events after `seq`, or None when the window no longer reaches back that far."""
        if seq == self.seq:
            return []
        oldest = self._ring[0]["seq"] if self._ring else self.seq + 1
        if seq > self.seq or oldest > seq + 1:
            return None
        return [e for e in self._ring if e["seq"] > seq]

    def subscribe(self, queue_size: int | None = None) -> Subscription[EventBatch]:
        subscription: Subscription[EventBatch] = Subscription(
            queue_size or self.queue_size, self._subscribers.discard
        )
        self._subscribers.add(subscription)
        return subscription

    def observe(self, callback: Callable[[list[Event]], None]) -> None:
        """Call `callback` with every appended batch (payloads included), synchronously."""
        self._observers.append(callback)

    def observe_public(
        self, callback: Callable[[list[Event], Sequence[dict[str, Any]]], None]
    ) -> None:
        """`observe`, with each event's broadcast form beside it (computed once for all)."""
        self._pair_observers.append(callback)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def close(self) -> None:
        for subscriber in list(self._subscribers):
            subscriber.close()
