"""A replica's agent events: every host's transcripts and every replica's hook posts, via Redis.

The relay follows the events stream (`livewatch:events`) with a blocking XREAD and appends
each event to the hub's event log under the seq Redis gave it (`append(numbered=True)`), so
every replica numbers every event alike and a `/ws/events` client can resume on any of them.
The log's observers do the rest as for local events: the store keeps each event (keyed by
seq: replicas that share one database store it once), `/ws/events` and `/stream` send it.

An agent that was killed after publishing and before storing its offsets reads the same lines
again: an event whose `origin` (host, file, byte offset) was relayed within the last
`ORIGIN_WINDOW` events is dropped, and the stores' unique origin catches older ones.

A hook posted to a replica goes through `BrokerSink`: published to Redis (not appended
locally), then answered once this replica's relay has appended it and its store committed it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections import OrderedDict
from typing import Any

from livewatch.broker.backoff import Backoff
from livewatch.broker.bus import (
    BROKER_ERRORS,
    BrokerState,
    Bus,
    EventEntry,
    event_args,
    redacted,
)
from livewatch.hub.event_log import EventLog
from livewatch.hub.events import Event
from livewatch.store.events import EventStore
from livewatch.supervision import sleep_unless

log = logging.getLogger("livewatch.broker")

BLOCK_MS = 1000  # one blocking read at most this long, so a stop is seen soon after
ORIGIN_WINDOW = 50_000  # origins remembered to drop an event read twice
READ_COUNT = 500  # events per read
PREPARE_IN_THREAD = 256 * 1024  # a hook body bigger than this is made ready off the event loop


class EventRelay:
    """Follows the Redis events stream into the hub's event log."""

    def __init__(self, url: str, events: EventLog, *, origin_window: int = ORIGIN_WINDOW) -> None:
        self.url = url
        self.events = events
        self.origin_window = origin_window
        self.backoff = Backoff()
        self.broker_state: BrokerState = "connecting"
        self.position: int | None = None  # the last seq read from the stream
        self.epoch: str | None = None  # the events' epoch in Redis
        self.relayed = 0
        self.duplicates = 0
        self.gaps = 0
        self._origins: OrderedDict[str, None] = OrderedDict()
        self._waiters: list[tuple[int, int, asyncio.Future[bool]]] = []
        self._tickets = itertools.count()

    def describe(self) -> dict[str, Any]:
        return {
            "state": self.broker_state,
            "seq": self.position,
            "relayed": self.relayed,
            "duplicates": self.duplicates,
            "gaps": self.gaps,
        }

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    async with Bus(self.url, read_timeout=BLOCK_MS / 1000 + 5) as bus:
                        await self._resume(bus)
                        self._connected()
                        await self._follow(bus, stop)
                except BROKER_ERRORS as error:
                    self._lost(error)
                    if await sleep_unless(stop, self.backoff.next()):
                        return
        finally:
            for _, _, waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(False)
            self._waiters.clear()

    async def wait_for(self, seq: int, timeout: float) -> bool:
        """Wait until the relay has read past `seq` (and appended it, if it was new)."""
        if self.position is not None and self.position >= seq:
            return True
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (seq, next(self._tickets), waiter))
        try:
            return await asyncio.wait_for(waiter, max(0.0, timeout))
        except TimeoutError:
            return False

    # -- states --------------------------------------------------------------------------

    def _connected(self) -> None:
        if self.broker_state == "degraded":
            log.info("[BROKER] events: back in touch with %s", redacted(self.url))
        self.broker_state = "connected"
        self.backoff.reset()

    def _lost(self, error: BaseException) -> None:
        if self.broker_state != "degraded":
            log.warning("[BROKER] events: lost %s (%s); retrying", redacted(self.url), error)
        self.broker_state = "degraded"

    # -- following -----------------------------------------------------------------------

    async def prime(self, bus: Bus) -> None:
        """Before the port opens: Redis's epoch and where to read from (`Replica.prime`)."""
        await self._resume(bus)
        self._connected()

    async def _resume(self, bus: Bus) -> None:
        """Where to read from: after what we hold (the store's newest at first), or from the
        stream's oldest entry when Redis no longer has what follows it."""
        held = max(self.events.seq, self.position or 0)
        if held and await bus.raise_events_floor(held):
            log.warning(
                "[BROKER] Redis numbered events below seq %d (an older save?): raised", held
            )
        epoch, last, oldest = await bus.events_position()
        renewed = self.epoch is not None and epoch != self.epoch
        self._take_epoch(epoch)
        after = held
        if oldest is None:
            after = max(held, last)  # nothing to read: the next event is numbered above both
        elif oldest > held + 1:
            after = oldest - 1
            if renewed:
                log.warning("[BROKER] Redis lost its events (new epoch); going on from %d", oldest)
            elif held:
                self._gap(held, oldest)
        if self.position is None:
            log.info("[BROKER] events: following %s after seq %d", redacted(self.url), after)
        self.position = after

    def _gap(self, held: int, next_seq: int) -> None:
        self.gaps += 1
        log.warning(
            "[BROKER] Redis no longer holds the events after seq %d (trimmed, or Redis lost "
            "its state); going on from seq %d",
            held,
            next_seq,
        )

    def _take_epoch(self, epoch: str) -> None:
        if epoch != self.epoch:
            # Every replica takes Redis's epoch: numbered alike, a client may resume anywhere.
            self.epoch = self.events.epoch = epoch

    async def _follow(self, bus: Bus, stop: asyncio.Event) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                assert self.position is not None
                reading = asyncio.ensure_future(
                    bus.read_events(self.position, block_ms=BLOCK_MS, count=READ_COUNT)
                )
                await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if stopping.done():  # don't hold shutdown up for the rest of a blocking read
                    reading.cancel()
                    return
                self.relay(reading.result())
        finally:
            stopping.cancel()

    def relay(self, entries: list[EventEntry]) -> None:
        """Append new entries' events to the log (one batch), then wake who waits for them."""
        fresh: list[Event] = []
        for entry in entries:
            if self.position is not None and entry.seq <= self.position:
                continue
            if entry.epoch == self.epoch and self.position and entry.seq > self.position + 1:
                self._gap(self.position, entry.seq)  # the stream was trimmed past us
            self._take_epoch(entry.epoch)
            self.position = entry.seq
            origin = entry.event.get("origin")
            if origin:
                if origin in self._origins:
                    self.duplicates += 1
                    continue
                self._origins[origin] = None
                if len(self._origins) > self.origin_window:
                    self._origins.popitem(last=False)
            fresh.append(entry.event)  # type: ignore[arg-type]
        if fresh and (batch := self.events.append(fresh, numbered=True)) is not None:
            self.relayed += len(batch.events)
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.position is not None and self._waiters[0][0] <= self.position:
            _, _, waiter = heapq.heappop(self._waiters)
            if not waiter.done():
                waiter.set_result(True)


class BrokerSink:
    """Where a replica's hook posts go: Redis, then back through this replica's relay."""

    def __init__(self, url: str, relay: EventRelay, store: EventStore | None) -> None:
        self.url = url
        self.relay = relay
        self.store = store
        self._bus: Bus | None = None

    async def put(self, event: Event, *, timeout: float) -> tuple[int | None, str | None]:
        """Publish one event; its seq, and None once it is live here and stored (else why
        it is not known to be durable)."""
        deadline = time.monotonic() + timeout
        if self._bus is None:
            self._bus = Bus(self.url)  # in the server's event loop, on the first post
        try:
            payload = event.get("payload") or ""
            if len(payload) > PREPARE_IN_THREAD:  # a body with `chat`: parsed to be cut
                args = await asyncio.to_thread(event_args, dict(event), brief=True)
            else:
                args = event_args(dict(event), brief=True)
            publishing = self._bus.publish_prepared("", [args])
            _, seqs = await asyncio.wait_for(publishing, timeout)
        except (*BROKER_ERRORS, TimeoutError) as error:
            log.warning("[BROKER] cannot publish a hook event to %s: %s", redacted(self.url), error)
            return None, (
                "the broker (Redis) could not take this event: it was neither shown nor stored"
            )
        seq = event["seq"] = seqs[0]
        if not await self.relay.wait_for(seq, deadline - time.monotonic()):
            return seq, (
                "the event reached the broker but did not come back to this replica in time: "
                "other replicas may show it, but it is not known to be durable"
            )
        store = self.store
        if store is None or store.state != "ok":
            return seq, "the event database is not writable: it is shown live, not stored"
        if not await store.flush(seq, timeout=max(0.0, deadline - time.monotonic())):
            return seq, (
                "the event database could not commit this event in time: it is shown live and "
                "stays queued for the database, but is not known to be durable"
            )
        return seq, None

    async def close(self) -> None:
        if self._bus is not None:
            await self._bus.close()
