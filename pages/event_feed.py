"""Live event views for pages: the capped `/events` feed, and one ticker that serves them all.

Events arrive by the thousand each second: no tab renders per event. The ticker wakes ten
times a second, takes what is new once, filters it once per distinct filter, and pushes each
open view only its new rows (a patch, never the whole table again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from nicegui import background_tasks, ui
from nicegui.client import Client
from nicegui.events import GenericEventArguments

from livewatch.hub.event_filter import EventFilter
from livewatch.hub.event_log import EventLog
from livewatch.hub.event_views import FeedTicker

log = logging.getLogger("livewatch.pages")

TICK_S = 0.2  # at most five renders a second per view, however fast events come
MAX_ROWS = 300
# The newest rows a view gets per tick. At 2,000 events a second nobody reads every row, and a
# browser that is sent 200 rows ten times a second falls behind and shows stale ones.
ROWS_PER_TICK = 20


class LiveView(Protocol):
    """Anything on a page that shows new events as they come."""

    matching: EventFilter
    paused: bool

    def push(self, rows: list[dict[str, Any]]) -> None:
        """New rows, newest first."""

    def missed(self, count: int) -> None:
        """While paused: how many new rows there were (a number, not the rows)."""


class EventFeed(ui.element, component="event_feed.js"):
    """Newest first; rows go in with `push` (new ones) or `replace` (a fresh window)."""

    def __init__(
        self,
        rows: list[dict[str, Any]],
        *,
        max_rows: int = MAX_ROWS,
        on_pause: Callable[[bool], None] | None = None,
    ) -> None:
        super().__init__()
        self._props["rows"] = rows
        self._props["maxRows"] = max_rows
        self.matching = EventFilter()
        self.paused = False
        self._on_pause = on_pause
        self.on("pause", self._paused, args=["*"])

    def _paused(self, e: GenericEventArguments) -> None:
        self.paused = bool(e.args[0] if isinstance(e.args, list) and e.args else e.args)
        if self._on_pause is not None:
            self._on_pause(self.paused)

    def push(self, rows: list[dict[str, Any]]) -> None:
        self.run_method("prepend", rows)

    def missed(self, count: int) -> None:
        self.run_method("countMissed", count)

    def replace(self, rows: list[dict[str, Any]]) -> None:
        # Kept in the props too, so a full re-render of the element starts from this window.
        self._props["rows"] = rows
        self.run_method("replace", rows)


class Feeds:
    """The open live views of this process and the one ticker that serves them."""

    def __init__(self) -> None:
        self.views: dict[LiveView, Client] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, view: LiveView, log: EventLog) -> None:
        client = ui.context.client
        self.views[view] = client
        client.on_delete(lambda: self.views.pop(view, None))
        if self._task is None or self._task.done():
            self._task = background_tasks.create(self._run(log), name="live events ticker")

    async def _run(self, log: EventLog) -> None:
        ticker = FeedTicker(log, limit=ROWS_PER_TICK)
        while self.views:
            await asyncio.sleep(TICK_S)
            live = [v for v, c in self.views.items() if not c.is_deleted]
            rows = ticker.tick(v.matching for v in live)
            for view in live:
                if new := rows.get(view.matching):
                    try:
                        # A paused view is told how many it missed, not sent the rows.
                        view.missed(len(new)) if view.paused else view.push(new)
                    except Exception:  # one broken view must not stop the others
                        log.exception("[PAGES] a live event view failed to update")


FEEDS = Feeds()
