"""The running process's parts, wired once: settings, hub, watchers and their lifecycle.

The API and the pages reach the hub through `current()`; neither knows about the other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from livewatch.hub.activity import Activity
from livewatch.hub.hub import Hub
from livewatch.hub.records import Route, WorkflowDetail
from livewatch.security.secrets import mask_secrets
from livewatch.settings import Settings
from livewatch.sources import workflows
from livewatch.sources.prefetch import FirstScan
from livewatch.sources.watch import RoutesWatcher, WorkflowWatcher
from livewatch.supervision import supervise

if TYPE_CHECKING:
    from livewatch.broker.replica import Replica

log = logging.getLogger("livewatch")


@dataclass
class Runtime:
    settings: Settings
    hub: Hub
    workflow_watcher: WorkflowWatcher | Replica
    routes_watcher: RoutesWatcher
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    activity: Activity = field(default_factory=Activity)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, own_routes: Callable[[], list[Route]]) -> Runtime:
        hub = Hub.create(history_size=settings.history, queue_size=settings.queue_size)
        if settings.broker:
            # A replica: the workflows come from every agent host through Redis, not a local dir.
            from livewatch.broker.replica import Replica

            routes = RoutesWatcher(hub.routes, own_routes=own_routes, target=settings.app)
            return cls(settings, hub, Replica(settings, hub.workflows), routes)
        return cls(
            settings=settings,
            hub=hub,
            workflow_watcher=WorkflowWatcher.from_settings(settings, hub.workflows),
            routes_watcher=RoutesWatcher(hub.routes, own_routes=own_routes, target=settings.app),
        )

    def prime(self, first_scan: FirstScan | None = None) -> None:
        """Read the first snapshot before the port opens, so no client sees an empty list."""
        if isinstance(self.workflow_watcher, WorkflowWatcher):
            self.workflow_watcher.prime(first_scan, watch=True)
        else:
            self.workflow_watcher.prime()
        self.routes_watcher.prime()
        self.activity.follow(self.hub.workflows)  # changes from here on, not the first load

    async def start(self) -> None:
        """Follow changes in supervised background tasks."""
        self.spawn("workflow watcher", self.workflow_watcher.run)
        self.spawn("routes watcher", self.routes_watcher.run)
        log.info("[STARTUP] Workflow and routes watchers started")

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

    @property
    def broker_state(self) -> str | None:
        """`connecting`, `connected` or `degraded` behind a broker; None for the local hub."""
        return getattr(self.workflow_watcher, "broker_state", None)

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
            running_window=self.settings.running_window_s,
        )
        # The one place state leaves the reader, so secrets are masked for every outlet.
        return detail.model_copy(update={"state": mask_secrets(detail.state)})

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


_current: Runtime | None = None


def install(runtime: Runtime) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("livewatch is not running: call livewatch.server.create() first")
    return _current
