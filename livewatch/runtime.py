"""The running process's parts, wired once: settings, hub, watchers and their lifecycle.

The API and the pages reach the hub through `current()`; neither knows about the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from livewatch.alerts.rules import Rules
from livewatch.alerts.service import AlertService
from livewatch.history.service import History
from livewatch.hub.activity import Activity
from livewatch.hub.agent_activity import AgentActivity
from livewatch.hub.event_filter import EventFilter
from livewatch.hub.event_log import EventLog
from livewatch.hub.event_views import merge_newest
from livewatch.hub.events import Event
from livewatch.hub.hub import Hub
from livewatch.hub.records import Route, Workflow, WorkflowDetail
from livewatch.security.secrets import mask_secrets
from livewatch.settings import Settings
from livewatch.sources import workflows
from livewatch.sources.prefetch import FirstScan
from livewatch.sources.transcript_feed import TranscriptFeed
from livewatch.sources.watch import RoutesWatcher, WorkflowWatcher
from livewatch.store.events import EventStore, StoreError
from livewatch.store.snapshots import SnapshotStore
from livewatch.supervision import sleep_unless, supervise

if TYPE_CHECKING:
    from livewatch.broker.relay import EventRelay
    from livewatch.broker.replica import Replica

log = logging.getLogger("livewatch")

# How often a workflow's "now" cell may change: events come far faster than that, and each
# fold re-sends the records of every running workflow to every workflows client.
AGENT_ACTIVITY_S = 1.0


class EventSink(Protocol):
    """Where a hook post goes to be shown and stored: this process's log and store, or, behind
    a broker, Redis (so every replica shows it) and back."""

    async def put(self, event: Event, *, timeout: float) -> tuple[int | None, str | None]:
        """Its seq (None if it got none), and None once it is shown and durable, else why
        it is not known to be durable."""
        ...

    async def close(self) -> None: ...


@dataclass
class LocalSink:
    """Append to the hub's event log, then wait for the store to commit it."""

    events: EventLog
    store: EventStore | None

    async def put(self, event: Event, *, timeout: float) -> tuple[int | None, str | None]:
        self.events.append([event])
        seq = int(event["seq"])
        store = self.store
        if store is None or store.state != "ok" or not await store.flush(seq, timeout=timeout):
            return seq, (
                "the event database could not commit this event in time: it is shown live and "
                "stays queued for the database, but is not known to be durable"
            )
        return seq, None

    async def close(self) -> None:
        return None


@dataclass
class Runtime:
    settings: Settings
    hub: Hub
    workflow_watcher: WorkflowWatcher | Replica
    routes_watcher: RoutesWatcher
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    activity: Activity = field(default_factory=Activity)
    # Agent events per second over the last five minutes, for the events page's pulse.
    event_rate: Activity = field(default_factory=lambda: Activity(300, bucket_s=1))
    event_store: EventStore | None = None
    agent_activity: AgentActivity | None = None
    event_sink: EventSink | None = None
    event_relay: EventRelay | None = None  # behind a broker: Redis's events into the hub's log
    history: History | None = None  # run history (issue #15), in the event store's database
    alerts: AlertService | None = None  # transitions → webhooks, and the alerts panel's feed
    snapshots: SnapshotStore | None = None  # the last known workflows, for the next start
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, own_routes: Callable[[], list[Route]]) -> Runtime:
        hub = Hub.create(history_size=settings.history, queue_size=settings.queue_size)
        if settings.broker:
            # A replica: the workflows come from every agent host through Redis, not a local dir.
            from livewatch.broker.relay import BrokerSink, EventRelay
            from livewatch.broker.replica import Replica

            routes = RoutesWatcher(hub.routes, own_routes=own_routes, target=settings.app)
            replica = cls(settings, hub, Replica(settings, hub.workflows), routes)
            replica.follow_agent_events()
            # Every host's events and every replica's hook posts come through Redis.
            relay = replica.event_relay = EventRelay(settings.broker, hub.events)
            replica.workflow_watcher.relay = relay  # type: ignore[union-attr]
            replica.event_sink = BrokerSink(settings.broker, relay, replica.event_store)
            replica.open_history()
            return replica
        runtime = cls(
            settings=settings,
            hub=hub,
            workflow_watcher=WorkflowWatcher.from_settings(settings, hub.workflows),
            routes_watcher=RoutesWatcher(hub.routes, own_routes=own_routes, target=settings.app),
        )
        runtime.follow_agent_events()
        runtime.open_history()
        runtime.keep_snapshots()
        return runtime

    def open_history(self) -> None:
        """Run history in the event store's database (it follows the hub from `prime`)."""
        if self.event_store is not None:
            self.history = History.open(self.event_store.engine)

    def follow_agent_events(self) -> None:
        """Wire the event path: transcripts → hub → store, the pulse and each workflow's now."""
        self.alerts = build_alerts(self.settings)
        events = self.hub.events
        self.event_rate.follow_events(events)
        if not self.settings.broker:
            # Behind a broker each agent folds its workflows' `now` and `tokens` in and
            # publishes them with the records: folded in here, they would be changes numbered
            # apart from Redis's, and replicas would no longer number changes alike.
            self.agent_activity = AgentActivity(self.hub.workflows)
            events.observe(self.agent_activity.observe)
        store = self.event_store = EventStore.open(
            self.settings.database,
            retention_days=self.settings.retention_days,
            max_events=self.settings.max_events,
        )
        if store.state == "ok":
            events.start_at(store.durable_seq)
        else:
            # The store cannot say where its numbers end: start above any it can hold (a
            # count far below the clock's milliseconds), so no new event collides with an old.
            events.start_at(int(time.time() * 1000))
        events.observe(store.submit)
        self.event_sink = LocalSink(events, store)
        if isinstance(self.workflow_watcher, WorkflowWatcher):
            feed = TranscriptFeed(
                self.settings.agents_dir,
                events,
                save_offsets=lambda offsets: store.submit([], offsets),
            )
            with contextlib.suppress(StoreError):  # degraded: each file's tail is read anew
                feed.resume(store.offsets())
            self.workflow_watcher.transcripts = feed
            events.observe(self.workflow_watcher.note_events)

    def keep_snapshots(self) -> None:
        """Keep the workflows in the event store, so the next start can serve them at once."""
        if self.event_store is not None:
            self.snapshots = SnapshotStore(
                self.event_store.engine,
                str(self.settings.agents_dir.absolute()),
                key=self.hub.workflows.key,
                check=Workflow.model_validate,
            )

    @property
    def verifying(self) -> bool:
        """The first pass is under way: the list served is not yet checked against the disk."""
        return bool(getattr(self.workflow_watcher, "verifying", False))

    def prime(self, first_scan: FirstScan | None = None) -> None:
        """Read the first snapshot before the port opens, so no client sees an empty list.

        The last known workflows (from the store) are served at once when there are any;
        the first scan verifies them behind the open port, and what changed goes out as
        ordinary deltas.
        """
        if isinstance(self.workflow_watcher, WorkflowWatcher):
            known = self.snapshots.load() if self.snapshots is not None else None
            self.workflow_watcher.prime(first_scan, watch=True, snapshot=known)
            if self.snapshots is not None:
                if known is None:  # nothing usable stored: store this whole first list
                    self.snapshots.save_all(self.hub.workflows.records())
                else:
                    log.info("[STARTUP] %d last known workflows; verifying them", len(known))
                self.hub.workflows.observe(self.snapshots.observe)
                self.snapshots.start()
        else:
            self.workflow_watcher.prime()
        self.routes_watcher.prime()
        if self.history is not None:  # the last hour's tally first, then the changes after it
            self.history.restore_activity(self.activity)
            self.history.follow(self.hub.workflows, self.hub.events)
        self.activity.follow(self.hub.workflows)  # changes from here on, not the first load
        if self.alerts is not None:  # transitions from here on: the first load alerts nothing
            self.alerts.follow(self.hub.workflows)

    async def start(self) -> None:
        """Follow changes in supervised background tasks."""
        self.spawn("workflow watcher", self.workflow_watcher.run)
        self.spawn("routes watcher", self.routes_watcher.run)
        if self.agent_activity is not None:  # behind a broker, the agents fold it in
            self.spawn("agent activity", self._show_agent_activity)
        if self.event_relay is not None:
            self.spawn("event relay", self.event_relay.run)
        if self.history is not None:
            history = self.history
            self.spawn("activity tally", lambda stop: history.keep_activity(self.activity, stop))
            if isinstance(watcher := self.workflow_watcher, WorkflowWatcher):
                agents_dir = self.settings.agents_dir
                self.spawn(
                    "history backfill",
                    lambda stop: history.run_backfill(
                        agents_dir, stop, busy=lambda: watcher.verifying
                    ),
                )
        if self.alerts is not None:
            self.spawn("alerts", self.alerts.run)
        log.info("[STARTUP] Workflow and routes watchers started")

    async def _show_agent_activity(self, stop: asyncio.Event) -> None:
        """Fold the workflows' `now` and `tokens` into their records a few times a second."""
        if self.agent_activity is None:
            return
        while not await sleep_unless(stop, AGENT_ACTIVITY_S):
            self.agent_activity.flush()

    def spawn(self, name: str, run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        """Run `run(stop)` in the background, restarted if it crashes, until shutdown."""
        job = supervise(name, lambda: run(self.stop), self.stop)
        self._tasks.append(asyncio.create_task(job))

    def begin_shutdown(self) -> None:
        """Stop the background work and end every subscription (clients get 1001)."""
        self.stop.set()
        self.hub.close()

    async def shutdown(self) -> None:
        self.begin_shutdown()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=3)
        if self.alerts is not None:
            await self.alerts.close()
        if self.event_sink is not None:
            await self.event_sink.close()
        if self.history is not None:  # first: it writes through the event store's engine
            await asyncio.to_thread(self.history.close)
        if self.snapshots is not None:  # before the store, whose engine it writes with
            await asyncio.to_thread(self.snapshots.close)
        if self.event_store is not None:
            await asyncio.to_thread(self.event_store.close)

    @property
    def broker_state(self) -> str | None:
        """`connecting`, `connected` or `degraded` behind a broker; None for the local hub."""
        state = getattr(self.workflow_watcher, "broker_state", None)
        if self.event_relay is not None and self.event_relay.broker_state == "degraded":
            return "degraded"  # the records may be in touch, the events are not
        return state

    def workflow_detail(self, adw_id: str) -> WorkflowDetail | None:
        """Read one workflow's full detail from disk, or None when there is no such workflow."""
        if not isinstance(self.workflow_watcher, WorkflowWatcher):
            return self.workflow_watcher.detail(adw_id)  # a replica has no agents dir
        folder = self.workflow_folder(adw_id)
        if folder is None:
            return None
        detail = workflows.read_detail(
            folder,
            github_repo=self.settings.github_repo,
            running_window=self.settings.stall_after_s,
        )
        # The one place state leaves the reader, so secrets are masked for every outlet.
        return detail.model_copy(update={"state": mask_secrets(detail.state)})

    def transcript(
        self, adw_id: str, agent: str, *, before: int | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        """A page of one agent's events, oldest first: from the store, topped up from memory.

        Blocking (a query): call it in a thread.
        """
        matching = EventFilter(workflow=adw_id, agent=agent)
        window = [
            e
            for e in self.hub.events.recent(limit * 4, matching)
            if before is None or e["seq"] < before
        ]
        stored: list[dict[str, Any]] = []
        if self.event_store is not None and self.event_store.state == "ok":
            with contextlib.suppress(StoreError):
                stored = self.event_store.tail(adw_id, agent, limit, before)
        return merge_newest(stored, window, limit)

    def agents_of(self, adw_id: str) -> list[str]:
        """A workflow's agents: its folders with a transcript, then any others that sent
        events (hooks). Blocking (lists a folder): call it in a thread."""
        agents: dict[str, None] = {}
        if (folder := self.workflow_folder(adw_id)) is not None:
            with contextlib.suppress(OSError):
                for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                    if entry.is_dir(follow_symlinks=False) and workflows.has_transcript(entry):
                        agents.setdefault(entry.name, None)
        for event in self.hub.events.recent(len(self.hub.events), EventFilter(workflow=adw_id)):
            agents.setdefault(event["agent"], None)
        return list(agents)

    def workflow_folder(self, adw_id: str) -> Path | None:
        """The folder of a valid id, and only one that really lies inside the agents dir."""
        if not workflows.is_valid_adw_id(adw_id):
            return None
        root = self.settings.agents_dir.absolute()
        folder = root / adw_id
        if folder.is_symlink() or not folder.is_dir():
            return None
        if folder.resolve().parent != root.resolve():
            return None
        return folder


def build_alerts(settings: Settings) -> AlertService:
    """The alert rules and webhooks of the settings, on the event database."""
    rules = Rules(
        on=frozenset(settings.alert_on),
        cost_usd=settings.alert_cost_usd,
        base_url=settings.dashboard_url,
    )
    return AlertService(
        settings.database,
        rules,
        settings.alert_webhook,
        give_up_s=settings.alert_give_up_s,
        timeout_s=settings.alert_timeout_s,
    )


_current: Runtime | None = None


def install(runtime: Runtime) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("livewatch is not running: call livewatch.server.create() first")
    return _current
