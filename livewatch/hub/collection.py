"""The single source of truth: current records, a sequence number, history and fan-out.

A `Collection` holds one kind of record (workflows, routes) keyed by id. `apply()` works out
what really changed, numbers the change, keeps it in a bounded history (for clients that
resume) and offers it to every subscriber's bounded buffer. Everything runs on the event
loop, so no locks are needed. The interface is narrow on purpose (`snapshot`, `apply`,
`replace`, `since`, `subscribe`) so a Redis-backed collection can stand behind it later.
"""

from __future__ import annotations

import asyncio
import enum
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from livewatch.hub.broadcast_log import BroadcastLog

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Change:
    """One numbered change: the records that are new or different, and the keys that left."""

    seq: int
    ts: float
    upsert: tuple[Record, ...]
    remove: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    seq: int
    epoch: str
    ts: float
    records: list[Record]


Item = TypeVar("Item")


class SubscriptionState(enum.Enum):
    OPEN = "open"
    OVERFLOWED = "overflowed"  # fell too far behind; the outlet should drop the client
    CLOSED = "closed"


class Subscription(Generic[Item]):
    """A subscriber's bounded buffer of changes, so a slow one never delays the others.

    With `latest_only`, only the newest change is kept: for a subscriber that needs to know
    *that* something changed (it sends the whole list), never overflows, and holds one item.
    """

    def __init__(
        self, limit: int, detach: Callable[[Subscription[Item]], None], *, latest_only: bool = False
    ) -> None:
        self._items: deque[Item] = deque(maxlen=1 if latest_only else None)
        self._latest_only = latest_only
        self._limit = limit
        self._detach = detach
        self._ready = asyncio.Event()
        self._ended = asyncio.Event()
        self.state = SubscriptionState.OPEN

    def offer(self, change: Item) -> None:
        if self.state is not SubscriptionState.OPEN:
            return
        if len(self._items) >= self._limit and not self._latest_only:
            self._end(SubscriptionState.OVERFLOWED)
            return
        self._items.append(change)
        self._ready.set()

    async def next_batch(self) -> list[Item]:
        """Wait for changes and take all that are pending; [] once the subscription ended."""
        while self.state is SubscriptionState.OPEN and not self._items:
            self._ready.clear()
            await self._ready.wait()
        if self.state is not SubscriptionState.OPEN:
            return []
        batch = list(self._items)
        self._items.clear()
        return batch

    async def ended(self) -> None:
        """Wait until the subscription is closed or overflows."""
        await self._ended.wait()

    def close(self) -> None:
        self._end(SubscriptionState.CLOSED)

    def _end(self, state: SubscriptionState) -> None:
        if self.state is not SubscriptionState.OPEN:
            return
        self.state = state
        self._items.clear()
        self._ready.set()
        self._ended.set()
        self._detach(self)

    def __enter__(self) -> Subscription[Item]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Collection:
    """The current records of one kind, with what changed and who is listening."""

    name: str
    key: Callable[[Record], str]
    history_size: int = 1000
    queue_size: int = 256
    epoch: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    seq: int = 0
    last_change_ts: float | None = None
    # Fields another part of the hub adds to every record on its way in (a workflow's live
    # agent activity), so a fresh read from disk never wipes them.
    overlay: Callable[[Record], Record] | None = None

    def __post_init__(self) -> None:
        self._records: dict[str, Record] = {}
        self._history: deque[Change] = deque(maxlen=self.history_size)
        self._subscribers: set[Subscription] = set()
        self._observers: list[Callable[[Change], None]] = []
        self._sorted: tuple[int, list[Record]] | None = None
        self._broadcast_log = BroadcastLog(self.name)

    def __len__(self) -> int:
        return len(self._records)

    def get(self, key: str) -> Record | None:
        return self._records.get(key)

    def records(self) -> list[Record]:
        """All records sorted by key, computed once per sequence number."""
        if self._sorted is None or self._sorted[0] != self.seq:
            self._sorted = (self.seq, [self._records[k] for k in sorted(self._records)])
        return self._sorted[1]

    def snapshot(self) -> Snapshot:
        return Snapshot(self.seq, self.epoch, time.time(), self.records())

    def apply(
        self,
        upsert: Iterable[Record] = (),
        remove: Iterable[str] = (),
        *,
        seq: int | None = None,
    ) -> Change | None:
        """Merge a batch; broadcast and return the change only if something really changed.

        `seq` numbers the change from a shared log (the Redis stream) instead of counting
        locally, so every replica gives the same change the same number.
        """
        changed = {}
        for record in upsert:
            if self.overlay is not None:
                record = self.overlay(record)
            k = self.key(record)
            if self._records.get(k) != record:
                changed[k] = record
        gone = {k for k in remove if k in self._records and k not in changed}
        if not changed and not gone:
            if seq is not None:
                self.seq = max(self.seq, seq)
            return None
        self._records.update(changed)
        for k in gone:
            del self._records[k]
        self.seq = self.seq + 1 if seq is None else max(self.seq + 1, seq)
        self.last_change_ts = time.time()
        change = Change(self.seq, self.last_change_ts, tuple(changed.values()), tuple(sorted(gone)))
        self._history.append(change)
        for observe in self._observers:
            observe(change)
        for subscriber in list(self._subscribers):
            subscriber.offer(change)
        self._broadcast_log.broadcasted(len(changed) + len(gone), len(self._subscribers))
        return change

    def replace(self, records: Iterable[Record], *, seq: int | None = None) -> Change | None:
        """Make the collection exactly `records`: the reconciliation path."""
        fresh = {self.key(r): r for r in records}
        return self.apply(fresh.values(), [k for k in self._records if k not in fresh], seq=seq)

    def adopt(self, records: Iterable[Record], *, seq: int, epoch: str) -> Change | None:
        """Take over a shared state (a replica loading Redis): its records, seq and epoch.

        Connected clients get the difference as one change; the history restarts, so a
        client resuming from before this point gets a fresh snapshot.
        """
        self._history.clear()
        self.epoch = epoch
        change = self.replace(records, seq=seq)
        self._history.clear()
        self.seq = seq
        return change

    def since(self, seq: int) -> list[Change] | None:
        """The changes after `seq`, or None when the history no longer reaches back that far."""
        if seq == self.seq:
            return []
        if seq > self.seq or not self._history or self._history[0].seq > seq + 1:
            return None
        return [c for c in self._history if c.seq > seq]

    def subscribe(
        self, queue_size: int | None = None, *, latest_only: bool = False
    ) -> Subscription[Change]:
        subscription: Subscription[Change] = Subscription(
            queue_size or self.queue_size, self._subscribers.discard, latest_only=latest_only
        )
        self._subscribers.add(subscription)
        return subscription

    def observe(self, callback: Callable[[Change], None]) -> None:
        """Call `callback` with every change, synchronously: for cheap in-process tallies
        (not clients: observers are not counted, buffered or dropped)."""
        self._observers.append(callback)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def close(self) -> None:
        for subscriber in list(self._subscribers):
            subscriber.close()
