"""A dashboard replica: keeps the hub's workflows equal to what every agent host put in Redis.

It loads the snapshot (each host's records, the seq, the epoch) into the collection with
`adopt`, then follows the stream with a blocking XREAD, applying each entry with the seq
Redis gave it, so every replica numbers every change alike and a protocol-2 client can
resume on any of them. Between reads it marks hosts whose heartbeat expired as stale.

When Redis goes away the replica keeps serving what it has, reports "degraded", and
reconnects with backoff. Back in touch, it carries on from the stream when Redis still has
its epoch and the entries since its seq; otherwise it reloads the snapshot.

It stands where a `WorkflowWatcher` stands in the runtime (`prime`, `run`, `state`, ...).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from livewatch.broker.backoff import Backoff
from livewatch.broker.bus import BROKER_ERRORS, BrokerState, Bus, Entry, redacted
from livewatch.broker.merge import HostMerge
from livewatch.broker.relay import EventRelay
from livewatch.hub.collection import Collection
from livewatch.hub.records import WorkflowDetail
from livewatch.settings import Settings
from livewatch.sources.watch import WatcherState
from livewatch.supervision import sleep_unless

log = logging.getLogger("livewatch.broker")


class Replica:
    """Follows the Redis bus into one collection (the hub's workflows)."""

    # The watcher fields `/healthz` reads; a replica watches no files.
    force_polling = False

    def __init__(self, settings: Settings, collection: Collection) -> None:
        assert settings.broker, "a replica needs a broker URL"
        self.url = settings.broker
        self.collection = collection
        # Check heartbeats a few times per timeout, so staleness shows soon after it is due.
        self.stale_check_s = min(1.0, settings.stale_after_s / 4)
        # Agents reconnect within their backoff cap (about 3 s), or their heartbeat ran out.
        self.restock_grace_s = min(5.0, settings.stale_after_s)
        self.merge = HostMerge()
        self.backoff = Backoff()
        self.state: WatcherState = "starting"
        self.broker_state: BrokerState = "connecting"
        self.position: tuple[str, int] | None = None  # (epoch, seq) of the last entry applied
        self.events = 0  # stream entries applied
        self.corrections = 0  # snapshot reloads after the first
        self.last_event_ts: float | None = None
        self._loads = 0
        self.relay: EventRelay | None = None  # the agent events' way in, run beside this

    def _bus(self) -> Bus:
        return Bus(self.url, read_timeout=self.stale_check_s + 5)

    # -- the runtime's interface ---------------------------------------------------------

    def prime(self) -> None:
        """Load the snapshot before the port opens; if Redis is down, start degraded."""
        try:
            asyncio.run(self._prime())
        except BROKER_ERRORS as error:
            self._lost(error)

    async def _prime(self) -> None:
        async with self._bus() as bus:
            await self._load(bus)
            if self.relay is not None:
                await self.relay.prime(bus)
        self._connected()

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    async with self._bus() as bus:
                        await self._resync(bus)
                        self._connected()
                        await self._follow(bus, stop)
                except BROKER_ERRORS as error:
                    self._lost(error)
                    if await sleep_unless(stop, self.backoff.next()):
                        return
        finally:
            self.state = "stopped"

    def detail(self, adw_id: str) -> WorkflowDetail | None:
        """A replica has no agents dir: the detail is the record alone (no state, no logs)."""
        record = self.collection.get(adw_id)
        if record is None:
            return None
        # Only the fields we know: an agent of a newer version may publish more.
        return WorkflowDetail.model_validate(
            {k: v for k, v in record.items() if k in WorkflowDetail.model_fields}
        )

    def describe(self) -> dict[str, Any]:
        """The broker part of `/healthz` (which needs no token: counts, not names)."""
        return {
            "state": self.broker_state,
            "hosts": len(self.merge.hosts),
            "stale_hosts": len(self.merge.stale),
            "epoch": None if self.position is None else self.position[0],
            "seq": None if self.position is None else self.position[1],
            "events": None if self.relay is None else self.relay.describe(),
        }

    # -- states --------------------------------------------------------------------------

    def _connected(self) -> None:
        if self.broker_state == "degraded":
            log.info("[BROKER] back in touch with %s", redacted(self.url))
        self.broker_state = "connected"
        self.state = "watching"
        self.backoff.reset()

    def _lost(self, error: BaseException) -> None:
        if self.broker_state != "degraded":
            log.warning("[BROKER] lost %s (%s); serving the last state", redacted(self.url), error)
        self.broker_state = "degraded"
        # Still serving the last state, like a watcher waiting for its dir: healthy, degraded.
        self.state = "waiting"

    # -- following -----------------------------------------------------------------------

    async def _resync(self, bus: Bus) -> None:
        """After (re)connecting: carry on from the stream if we can, else reload."""
        if self.position is not None:
            epoch, seq = await bus.position()
            mine, my_seq = self.position
            if epoch == mine and seq >= my_seq:
                return  # the stream still continues what we hold; a gap triggers a reload
            if epoch == mine:
                # Redis went back in time (an older save): same epoch, seqs we saw reused.
                log.warning("[BROKER] Redis is behind us (%d < %d): new epoch", seq, my_seq)
                await bus.renew_epoch(mine, my_seq + 1)
        await self._load(bus)

    async def _load(self, bus: Bus) -> None:
        if self.position is not None:
            await self._wait_for_hosts(bus)
        snapshot = await bus.snapshot()
        view = self.merge.load(snapshot.records, snapshot.stale)
        self.collection.adopt(view, seq=snapshot.seq, epoch=snapshot.epoch)
        self.position = (snapshot.epoch, snapshot.seq)
        self.corrections += self._loads > 0
        self._loads += 1
        log.info(
            "[BROKER] loaded %d workflows from %d hosts at seq %d (epoch %s)",
            len(view),
            len(snapshot.records),
            snapshot.seq,
            snapshot.epoch,
        )

    async def _wait_for_hosts(self, bus: Bus) -> None:
        """After Redis lost its state, give the live hosts a moment to publish theirs again.

        Loading at once would empty the dashboard until every agent has reconnected; so for
        up to `RESTOCK_GRACE_S` we keep showing the last state (and stay "degraded").
        """
        assert self.position is not None
        if await bus.epoch() == self.position[0]:
            return  # the same epoch: Redis kept its state, there is nothing to wait for
        expected = set(self.merge.hosts) - self.merge.stale
        deadline = time.monotonic() + self.restock_grace_s
        while not expected <= await bus.hosts() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def _follow(self, bus: Bus, stop: asyncio.Event) -> None:
        # The read blocks no longer than the heartbeat check interval, so checks stay on time.
        block_ms = max(1, round(self.stale_check_s * 1000))
        next_check = 0.0
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                assert self.position is not None
                reading = asyncio.ensure_future(bus.read(self.position[1], block_ms=block_ms))
                await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if stopping.done():  # don't hold shutdown up for the rest of a blocking read
                    reading.cancel()
                    return
                for entry in reading.result():
                    if not self._apply(entry):
                        await self._load(bus)  # trimmed past us, or a new epoch: start over
                        break
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + self.stale_check_s
                    if marked := await bus.mark_stale_hosts():
                        log.warning("[BROKER] no heartbeat from %s: stale", ", ".join(marked))
        finally:
            stopping.cancel()

    def _apply(self, entry: Entry) -> bool:
        """Apply the next entry; False when it doesn't follow on from what we hold."""
        assert self.position is not None
        epoch, seq = self.position
        if entry.epoch != epoch or entry.seq != seq + 1:
            return False
        if entry.op == "stale":
            change = self.merge.apply(entry.host, stale=True)
        else:  # a host that publishes is alive
            change = self.merge.apply(entry.host, entry.upsert, entry.remove, stale=False)
        self.collection.apply(change.upsert, change.remove, seq=entry.seq)
        self.position = (epoch, entry.seq)
        self.events += 1
        self.last_event_ts = time.time()
        return True
