"""Live event views for pages: the capped `/events` feed, and one ticker that serves them all.

Events arrive by the thousand each second: no tab renders per event. The ticker wakes ten
times a second, takes what is new once, filters it once per distinct filter, encodes each
filter's rows once, and pushes every open view on that filter the same text (a patch, never
the whole table again). A view gets all of a tick's new rows up to what it can show (the
newest `MAX_ROWS`), so a row's delay is bounded by one tick however fast events come: there
is no backlog to work through. Hidden tabs (`document.visibilityState`) are sent nothing and
get a fresh window when they are shown again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from nicegui import background_tasks, ui
from nicegui.client import Client
from nicegui.events import GenericEventArguments

from livewatch.hub import protocol
from livewatch.hub.event_filter import EventFilter
from livewatch.hub.event_log import EventLog
from livewatch.hub.event_views import FeedTicker

from .layout import on_reconnect, run_in_tabs

log = logging.getLogger("livewatch.pages")

TICK_S = 0.1  # at most ten renders a second per view, however fast events come
MAX_ROWS = 300  # what the feed keeps, so also the most a tick ever sends it


class NewRows:
    """One filter's new rows of one tick, newest first, encoded once for every view on it."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self._text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = protocol.dumps(self.rows)
        return self._text


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
        on_shown: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self._props["rows"] = rows
        self._props["maxRows"] = max_rows
        self.matching = EventFilter()
        self.paused = False
        self.tab_shown = True
        # Just sent a fresh window through its outbox: its next rows go the same way, after
        # it, not by the shared emit that could overtake it.
        self.fresh = True
        self._on_pause = on_pause
        self._on_shown = on_shown
        self.on("pause", self._paused, args=["*"])
        self.on("visibility", self._visibility, args=["*"])

    def _paused(self, e: GenericEventArguments) -> None:
        self.paused = _flag(e)
        if self._on_pause is not None:
            self._on_pause(self.paused)

    def _visibility(self, e: GenericEventArguments) -> None:
        shown = _flag(e)
        if shown and not self.tab_shown and self._on_shown is not None:
            self._on_shown()  # what came while hidden: a fresh window, not a backlog
        self.tab_shown = shown

    def resync(self) -> None:
        """After a reconnect: a fresh window, as a tab shown again gets."""
        if self._on_shown is not None:
            self._on_shown()

    def push(self, rows: list[dict[str, Any]]) -> None:
        self.run_method("prepend", rows)

    def push_encoded(self, new: NewRows) -> None:
        # The same text for every tab on this filter; the browser parses it.
        self.run_method("prepend", new.text)

    def missed(self, count: int) -> None:
        self.run_method("countMissed", count)

    def replace(self, rows: list[dict[str, Any]]) -> None:
        # Kept in the props too, so a full re-render of the element starts from this window.
        self._props["rows"] = rows
        self.fresh = True
        self.run_method("replace", rows)


def _flag(e: GenericEventArguments) -> bool:
    return bool(e.args[0] if isinstance(e.args, list) and e.args else e.args)


class Feeds:
    """The open live views of this process and the one ticker that serves them."""

    def __init__(self) -> None:
        self.views: dict[LiveView, Client] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, view: LiveView, log: EventLog) -> None:
        client = ui.context.client
        self.views[view] = client
        client.on_delete(lambda: self.views.pop(view, None))
        if isinstance(view, EventFeed):
            on_reconnect(client, view.resync)
        if self._task is None or self._task.done():
            self._task = background_tasks.create(self._run(log), name="live events ticker")

    async def _run(self, events: EventLog) -> None:
        ticker = FeedTicker(events, limit=MAX_ROWS)
        while self.views:
            await asyncio.sleep(TICK_S)
            if not ticker.pending:  # no view is looked at: an idle tab costs nothing here
                continue
            # A view that cannot tell (no `tab_shown`) counts as shown.
            live = [
                v
                for v, c in self.views.items()
                if getattr(v, "tab_shown", True) and not c.is_deleted
            ]
            new_rows = ticker.tick(v.matching for v in live)
            rows = {f: NewRows(r) for f, r in new_rows.items() if r}
            shared: dict[EventFilter, list[str]] = {}  # per filter, the tabs of one emit
            for view in live:
                if new := rows.get(view.matching):
                    try:
                        if view.paused:  # told how many it missed, not sent the rows
                            view.missed(len(new.rows))
                        elif isinstance(view, EventFeed) and not view.fresh:
                            client = self.views[view]
                            if client.has_socket_connection:  # else: resynced on reconnect
                                shared.setdefault(view.matching, []).append(client.id)
                        elif isinstance(view, EventFeed):
                            view.fresh = False
                            view.push_encoded(new)
                        else:
                            view.push(new.rows)
                    except Exception:  # one broken view must not stop the others
                        log.exception("[PAGES] a live event view failed to update")
            for matching, tabs in shared.items():
                await _emit_rows(rows[matching], tabs)


async def _emit_rows(new: NewRows, tabs: list[str]) -> None:
    """One message for every tab on a filter: NiceGUI's outbox would wrap, encode and send
    the rows again for each tab (~0.5 ms of server CPU per tab a tick at 2,000 events/s).
    The rows go in as a JSON literal."""
    code = f"window.lwEventFeed && window.lwEventFeed.prepend({new.text})"
    try:
        await run_in_tabs(code, tabs)
    except Exception:  # a tab gone meanwhile must not stop the ticker
        log.exception("[PAGES] the shared event rows failed to send")


FEEDS = Feeds()
