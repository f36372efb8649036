"""`livewatch agent`: watch this host's agents dir and publish its records to Redis.

The agent runs the same `WorkflowWatcher` as the server, into a private collection, and
forwards each change to Redis as soon as the watcher applies it (one script call, well under
a millisecond on a LAN). On every (re)connection, and whenever Redis turns out to have lost
its state (its epoch changed), it republishes everything it has, so Redis is repopulated
without any persistence. Between changes it refreshes its heartbeat key every third of
`stale_after_s`; replicas mark its workflows stale once that key expires.

It also follows the agents' transcripts (the server's `TranscriptFeed`, on a local event log)
and forwards their events to Redis's events stream (`forward.EventForwarder`), storing the
byte offsets in a local database once the events are in Redis, so a restart reads on from
there. Each workflow's `now` and `tokens` are folded in here, from its own events and from
the hook posts that joined it on any replica, and published with the record: so every
replica shows them under the seqs Redis gave, and under the id the merged list shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from livewatch.broker.backoff import Backoff
from livewatch.broker.bus import BROKER_ERRORS, BrokerState, Bus, Record, redacted
from livewatch.broker.forward import EventForwarder
from livewatch.hub.agent_activity import AgentActivity
from livewatch.hub.collection import Change, Collection, Subscription
from livewatch.hub.event_log import EventLog
from livewatch.hub.records import workflow_key
from livewatch.settings import Settings
from livewatch.sources.transcript_feed import TranscriptFeed
from livewatch.sources.watch import WorkflowWatcher
from livewatch.store.events import EventStore, StoreError
from livewatch.supervision import sleep_unless, supervise

log = logging.getLogger("livewatch.agent")

# Changes the agent may queue while a publish is in flight before it resyncs instead.
QUEUE_SIZE = 10_000
# How often a workflow's "now" cell may change (as in the server): each change is a publish.
AGENT_ACTIVITY_S = 0.25


def agent_database(settings: Settings) -> str:
    """Where the agent keeps its transcript offsets: `--db`, else a file of its own beside
    the server's default one, so a `livewatch serve` on the same dir never shares offsets."""
    if settings.db:
        return settings.db
    default = settings.database
    return f"{default.removesuffix('.db')}-agent.db"


class Agent:
    """One host's publisher: its watcher, its label and its connection to the bus."""

    def __init__(self, settings: Settings) -> None:
        assert settings.broker, "an agent needs a broker URL"
        self.url = settings.broker
        self.label = settings.host_label
        self.ttl_s = settings.stale_after_s
        self.beat_s = settings.stale_after_s / 3
        # A private collection: it only feeds the publisher, so it keeps no history.
        self.collection = Collection(
            "workflows", workflow_key, history_size=1, queue_size=QUEUE_SIZE
        )
        self.watcher = WorkflowWatcher.from_settings(settings, self.collection)
        self.backoff = Backoff()
        self.broker_state: BrokerState = "connecting"
        self.epoch: str | None = None
        self.published = 0
        # Transcript events: read into a local log (no history: it only feeds observers),
        # forwarded to Redis, and folded into each workflow's `now` and `tokens`.
        self.store = EventStore.open(
            agent_database(settings),
            retention_days=settings.retention_days,
            max_events=settings.max_events,
        )
        self.events = EventLog(window=1)
        self.forwarder = EventForwarder(
            self.url, self.label, lambda offsets: self.store.submit([], offsets)
        )
        self.events.observe(self.forwarder.add)
        self.activity = AgentActivity(self.collection)
        self.events.observe(self.activity.observe)
        feed = TranscriptFeed(
            settings.agents_dir, self.events, save_offsets=self.forwarder.add_offsets
        )
        with contextlib.suppress(StoreError):  # unreadable: each file's tail is read anew
            feed.resume(self.store.offsets())
        self.watcher.transcripts = feed

    async def run(self, stop: asyncio.Event) -> None:
        """Watch and publish until `stop`."""
        self.watcher.prime()
        log.info(
            "[AGENT] %d workflows in %s; publishing to %s as host %r",
            len(self.collection),
            self.watcher.agents_dir,
            redacted(self.url),
            self.label,
        )
        tasks = [
            asyncio.create_task(supervise(name, run, stop))
            for name, run in (
                ("workflow watcher", lambda: self.watcher.run(stop)),
                ("event forwarder", lambda: self.forwarder.run(stop)),
                ("agent activity", lambda: self._show_activity(stop)),
                ("hook activity", lambda: self._follow_hooks(stop)),
            )
        ]
        try:
            await self.publish_until(stop)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            # Offsets of what is in Redis: written before the process ends.
            await asyncio.to_thread(self.store.close)

    async def _show_activity(self, stop: asyncio.Event) -> None:
        """Fold the workflows' `now` and `tokens` into their records a few times a second;
        each change is published like any other."""
        while not await sleep_unless(stop, AGENT_ACTIVITY_S):
            self.activity.flush()

    async def _follow_hooks(self, stop: asyncio.Event) -> None:
        """Hook posts that joined this host's workflows (on any replica) count for their
        `now` too: Redis tells each host about its own in `activity:<host>`."""
        backoff = Backoff()
        while not stop.is_set():
            try:
                async with Bus(self.url, read_timeout=10) as bus:
                    after = await bus.activity_tail(self.label)
                    backoff.reset()
                    while not stop.is_set():
                        after, events = await bus.read_activity(self.label, after, block_ms=1000)
                        self.activity.observe(events)  # type: ignore[arg-type]
            except BROKER_ERRORS:  # said by the publishers; just come back
                if await sleep_unless(stop, backoff.next()):
                    return

    async def publish_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with Bus(self.url) as bus:
                    with self.collection.subscribe(QUEUE_SIZE) as subscription:
                        # Subscribed first, so a change made during the sync is sent after it.
                        await self.sync(bus)
                        self._connected()
                        await self._forward(bus, subscription, stop)
            except BROKER_ERRORS as error:
                self._lost(error)
                if await sleep_unless(stop, self.backoff.next()):
                    return

    async def sync(self, bus: Bus) -> None:
        """Publish every record this host has, and drop from Redis the ones it no longer has."""
        records = [self._labelled(r) for r in self.collection.records()]
        self.epoch, _ = await bus.publish(self.label, records, [], sync=True, ttl_s=self.ttl_s)

    async def _forward(self, bus: Bus, subscription: Subscription, stop: asyncio.Event) -> None:
        """Publish each batch of changes; heartbeat while there are none."""
        changes = asyncio.ensure_future(subscription.next_batch())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                done, _ = await asyncio.wait(
                    {changes, stopping}, timeout=self.beat_s, return_when=asyncio.FIRST_COMPLETED
                )
                if stopping in done:
                    return
                if changes in done:
                    batch = changes.result()
                    if not batch:
                        return  # overflowed: the caller subscribes again and syncs
                    epoch = await self._publish(bus, batch)
                    changes = asyncio.ensure_future(subscription.next_batch())
                else:
                    epoch, _ = await bus.publish(self.label, [], [], ttl_s=self.ttl_s)
                if epoch != self.epoch:
                    log.warning("[AGENT] Redis lost its state (new epoch): publishing all again")
                    await self.sync(bus)
        finally:
            for task in (changes, stopping):
                task.cancel()
            await asyncio.gather(changes, stopping, return_exceptions=True)

    async def _publish(self, bus: Bus, batch: list[Change]) -> str:
        latest: dict[str, Record | None] = {}
        for change in batch:
            latest.update({workflow_key(r): r for r in change.upsert})
            latest.update(dict.fromkeys(change.remove))
        upsert = [self._labelled(r) for r in latest.values() if r is not None]
        remove = sorted(k for k, r in latest.items() if r is None)
        epoch, _ = await bus.publish(self.label, upsert, remove, ttl_s=self.ttl_s)
        self.published += 1
        return epoch

    def _labelled(self, record: Record) -> Record:
        return {**record, "host": self.label}

    def _connected(self) -> None:
        if self.broker_state == "degraded":
            log.info("[AGENT] back in touch with %s; republished everything", redacted(self.url))
        self.broker_state = "connected"
        self.backoff.reset()

    def _lost(self, error: BaseException) -> None:
        if self.broker_state != "degraded":
            log.warning("[AGENT] lost %s (%s); retrying with backoff", redacted(self.url), error)
        self.broker_state = "degraded"


def run(settings: Settings) -> None:
    """The `livewatch agent` process: publish until SIGINT/SIGTERM."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await Agent(settings).run(stop)

    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=_loop()) as runner:
        runner.run(main())


def _loop() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (uvicorn[standard] brings it), as the server runs on it."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
