"""An agent host's transcript events, on their way to Redis: in order, and never ahead of
the offsets that say they were read.

The agent's `TranscriptFeed` appends each batch of lines it read to a local event log; this
forwarder observes it and publishes the batches to the events stream in order. The feed's
byte offsets queue behind the events they follow, and go to the local store only once those
events are in Redis: an agent stopped (or killed) at any moment reads on from the last line
Redis has, so nothing read is lost, and a line published twice (killed between the publish
and the offsets) is dropped by the replicas by its `origin`.

While Redis is down the batches wait in memory, at most `max_events` of them: beyond that the
oldest go, with one log line per outage (their offsets are kept, so they are not read again).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from livewatch.broker.backoff import Backoff
from livewatch.broker.bus import BROKER_ERRORS, PAYLOAD_MAX, BrokerState, Bus, redacted
from livewatch.hub.events import Event
from livewatch.supervision import sleep_unless

log = logging.getLogger("livewatch.agent")

Offsets = dict[str, tuple[int, int]]

MAX_EVENTS = 100_000  # waiting while Redis is down; the oldest go beyond this
BATCH_EVENTS = 500  # events per script call
BATCH_BYTES = 4 * PAYLOAD_MAX  # and about this much payload


class EventForwarder:
    """Local event log → Redis events stream; offsets → `save_offsets` once published."""

    def __init__(
        self,
        url: str,
        host: str,
        save_offsets: Callable[[Offsets], None],
        *,
        max_events: int = MAX_EVENTS,
    ) -> None:
        self.url = url
        self.host = host
        self.save_offsets = save_offsets
        self.max_events = max_events
        self.backoff = Backoff()
        self.broker_state: BrokerState = "connecting"
        self.published = 0
        self.dropped = 0
        self._queue: deque[list[Event] | Offsets] = deque()
        self._queued = 0  # events in the queue
        self._more = asyncio.Event()
        self._told_dropping = False

    # -- the feed's side -------------------------------------------------------------------

    def add(self, batch: list[Event]) -> None:
        """Queue a batch the local log appended (an observer of it)."""
        events: list[Event] = []
        for event in batch:
            copy: Event = {k: v for k, v in event.items() if k != "seq"}  # type: ignore[assignment]
            if origin := event.get("origin"):
                # Two hosts may have the same adw id, agent and offset: the origin names the host.
                copy["origin"] = f"{self.host}:{origin}"
            events.append(copy)
        if not events:
            return
        self._queue.append(events)
        self._queued += len(events)
        self._trim()
        self._more.set()

    def add_offsets(self, offsets: Offsets) -> None:
        """Queue the offsets the feed reached, behind the events read before them."""
        if self._queue and isinstance(last := self._queue[-1], dict):
            last.update(offsets)
        else:
            self._queue.append(dict(offsets))
        self._more.set()

    @property
    def queued(self) -> int:
        return self._queued

    def _trim(self) -> None:
        excess = self._queued - self.max_events
        if excess <= 0:
            return
        if not self._told_dropping:
            self._told_dropping = True
            log.warning(
                "[AGENT] more than %d events wait for %s: dropping the oldest",
                self.max_events,
                redacted(self.url),
            )
        for item in list(self._queue):
            if excess <= 0:
                break
            if isinstance(item, list):
                cut = min(excess, len(item))
                del item[:cut]
                excess -= cut
                self._queued -= cut
                self.dropped += cut
                if not item:
                    self._queue.remove(item)

    # -- publishing ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with Bus(self.url) as bus:
                    await bus.redis.ping()
                    self._connected()
                    await self._drain(bus, stop)
                return
            except BROKER_ERRORS as error:
                self._lost(error)
                if await sleep_unless(stop, self.backoff.next()):
                    return

    async def _drain(self, bus: Bus, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if not self._queue:
                self._more.clear()
                waiting = asyncio.ensure_future(self._more.wait())
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                stopping.cancel()
                continue
            item = self._queue.popleft()
            if isinstance(item, dict):
                self.save_offsets(item)  # every event read before them is in Redis
                continue
            batch, rest = _take(item)
            if rest:
                self._queue.appendleft(rest)
            self._queued -= len(batch)
            try:
                await bus.publish_events(self.host, batch)
            except BaseException:
                self._queue.appendleft(batch)  # again after reconnecting (or at next start)
                self._queued += len(batch)
                raise
            self.published += len(batch)

    def _connected(self) -> None:
        if self.broker_state == "degraded":
            log.info("[AGENT] events: back in touch with %s", redacted(self.url))
        self.broker_state = "connected"
        self._told_dropping = False
        self.backoff.reset()

    def _lost(self, error: BaseException) -> None:
        if self.broker_state != "degraded":
            log.warning(
                "[AGENT] events: lost %s (%s); %d waiting, retrying",
                redacted(self.url),
                error,
                self._queued,
            )
        self.broker_state = "degraded"


def _take(events: list[Event]) -> tuple[list[Event], list[Event]]:
    """The first events of a batch that make one script call, and the rest."""
    size = 0
    for count, event in enumerate(events[:BATCH_EVENTS]):
        size += len(event.get("payload") or "") + 300
        if size > BATCH_BYTES and count:
            return events[:count], events[count:]
    return events[:BATCH_EVENTS], events[BATCH_EVENTS:]
