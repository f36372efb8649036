"""`livewatch agent`: watch this host's agents dir and publish its records to Redis.

The agent runs the same `WorkflowWatcher` as the server, into a private collection, and
forwards each change to Redis as soon as the watcher applies it (one script call, well under
a millisecond on a LAN). On every (re)connection, and whenever Redis turns out to have lost
its state (its epoch changed), it republishes everything it has, so Redis is repopulated
without any persistence. Between changes it refreshes its heartbeat key every third of
`stale_after_s`; replicas mark its workflows stale once that key expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from livewatch.broker.backoff import Backoff
from livewatch.broker.bus import BROKER_ERRORS, BrokerState, Bus, Record, redacted
from livewatch.hub.collection import Change, Collection, Subscription
from livewatch.hub.records import workflow_key
from livewatch.settings import Settings
from livewatch.sources.watch import WorkflowWatcher
from livewatch.supervision import sleep_unless, supervise

log = logging.getLogger("livewatch.agent")

# Changes the agent may queue while a publish is in flight before it resyncs instead.
QUEUE_SIZE = 10_000


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
        watching = asyncio.create_task(
            supervise("workflow watcher", lambda: self.watcher.run(stop), stop)
        )
        try:
            await self.publish_until(stop)
        finally:
            stop.set()
            await watching

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
