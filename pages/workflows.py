"""`/`: every workflow, live, in a table that pages, sorts and filters on the server.

Only one page of rows (25 by default) is ever in the browser. A change re-renders the
table only when it alters what is on screen (the visible rows or the counts), so one
changed workflow costs a browser one page of rows at most, however many workflows exist.

Beside the heading, a small chart of changes per minute over the last hour. It is polled,
not pushed per change: every few seconds, and it sends only the bars (a few hundred bytes)
when they differ, so a burst of changes costs the browser one chart update, not one each.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from nicegui import background_tasks, events, ui
from nicegui.client import Client

from livewatch import runtime
from livewatch.hub import views
from livewatch.hub.activity import Activity
from livewatch.hub.collection import Change, Collection, Subscription, SubscriptionState
from livewatch.hub.records import PHASES
from livewatch.hub.shared_views import SharedPages

from .alerts_panel import alerts_panel
from .layout import SETTLE_SECONDS, Header, frame, on_reconnect, run_in_tabs

log = logging.getLogger("livewatch.pages")

COLUMNS: list[dict[str, Any]] = [
    # No "field": the row template renders the cells, and the server does the sorting.
    {"name": name, "label": label, "sortable": name != "now", "align": "left"}
    for name, label in (
        ("adw_id", "ADW ID"),
        ("issue", "Issue"),
        ("issue_class", "Class"),
        ("phase", "Phase"),
        ("status", "Status"),
        ("now", "Now"),
        ("cost", "Cost"),
        ("updated", "Updated"),
    )
]


# The chart looks for new bars this often; a burst of changes in between is one update.
CHART_SECONDS = 5.0
CHART_COLOR = "#3b82f6"  # the blue of the "current" phase step
# Half-transparent grays read well on the light and on the dark page alike.
AXIS_TEXT = {"fontSize": 10, "color": "#9ca3af"}
AXIS_LINE = {"lineStyle": {"color": "rgba(156, 163, 175, .5)"}}
GRID_LINE = {"lineStyle": {"color": "rgba(156, 163, 175, .25)"}}


def chart_options(chart: views.ActivityChart) -> dict[str, Any]:
    """A compact bar chart; labels every 15 minutes, the exact minute in the tooltip."""
    return {
        "animation": False,
        "grid": {"left": 28, "right": 8, "top": 8, "bottom": 22},
        "tooltip": {"trigger": "axis"},
        "xAxis": {
            "type": "category",
            "data": list(chart.labels),
            "axisTick": {"show": False},
            "axisLine": AXIS_LINE,
            "axisLabel": {**AXIS_TEXT, "interval": 14},
        },
        "yAxis": {
            "type": "value",
            "minInterval": 1,
            "splitNumber": 2,
            "axisLabel": AXIS_TEXT,
            "splitLine": GRID_LINE,
        },
        "series": [
            {
                "type": "bar",
                "name": "Changes",
                "data": list(chart.counts),
                "itemStyle": {"color": CHART_COLOR},
            }
        ],
    }


class ActivityView:
    """Changes per minute over the last hour, as bars and a total, for one browser tab."""

    def __init__(self, activity: Activity) -> None:
        self.activity = activity
        self.tz: tzinfo | None = None  # the browser's, once it told us; the server's until then
        self.shown = views.activity_chart(activity.series())

    def total_label(self) -> None:
        self.total = ui.label().classes("text-sm text-grey-7").props("data-testid=activity-total")
        self.show_total()

    def bar_chart(self) -> None:
        self.chart = ui.echart(chart_options(self.shown)).props("data-testid=activity-chart")
        self.chart.style("height: 120px; width: 28rem")
        client = ui.context.client

        async def join() -> None:
            self.tz = await browser_timezone(client)
            if not client.is_deleted:  # its minutes as the browser's clock shows them
                self.refresh(views.activity_chart(self.activity.series(), self.tz))
                client.run_javascript(self.call())
                # What the clock sent to many tabs at once is not in a reconnect's replay.
                on_reconnect(client, lambda: client.run_javascript(self.call()))
                CHARTS.add(self, client)

        background_tasks.create(join(), name=f"activity chart for {client.id}")

    def refresh(self, chart: views.ActivityChart) -> str | None:
        """Keep `chart` as this tab's; the call that shows it in the browser, or None when the
        browser shows it already (its bars move left, under its own minute labels)."""
        if chart == self.shown:
            return None
        before, self.shown = self.shown, chart
        # Keep the element's options true for any full render, without sending them now. The
        # total's text is set by the same call in the browser: the label, rendered once,
        # keeps its first text on the server.
        with self.chart.props.suspend_updates():
            self.chart.options["xAxis"]["data"] = list(chart.labels)
            self.chart.options["series"][0]["data"] = list(chart.counts)
        moved = (chart.end - before.end) // self.activity.bucket_s
        if chart.total == before.total and chart.counts == views.slid(before.counts, moved):
            return None
        return self.call()

    def call(self) -> str:
        """The `lwActivity` call that shows this tab's chart and total in the browser."""
        chart = self.shown
        args = [self.activity.bucket_s, chart.end, list(chart.counts), chart.total]
        return f"window.lwActivity({json.dumps([*args, chart.total_text])[1:-1]})"

    def show_total(self) -> None:
        self.total.text = self.shown.total_text
        self.total.props["data-total"] = self.shown.total


class ChartClock:
    """One timer for every open activity chart, not one per tab: every CHART_SECONDS it reads
    the counts once, makes the bars once per time zone, and sends each distinct chart to all
    the tabs that need it in one message (NiceGUI's outbox would encode it once per tab)."""

    def __init__(self) -> None:
        self.views: dict[ActivityView, Client] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, view: ActivityView, client: Client) -> None:
        self.views[view] = client
        client.on_delete(lambda: self.views.pop(view, None))
        if self._task is None or self._task.done():
            self._task = background_tasks.create(self._run(), name="activity charts")

    async def _run(self) -> None:
        while self.views:
            await asyncio.sleep(CHART_SECONDS)
            live = [v for v, c in list(self.views.items()) if not c.is_deleted]
            charts: dict[Any, views.ActivityChart] = {}
            series = live[0].activity.series() if live else []
            shared: dict[str, list[str]] = {}  # per call, the tabs of one message
            for view in live:
                key = view.tz.utcoffset(None) if view.tz is not None else None
                if key not in charts:
                    charts[key] = views.activity_chart(series, view.tz)
                try:
                    client = self.views[view]
                    # A tab without its socket is sent its chart again when it reconnects.
                    if (code := view.refresh(charts[key])) and client.has_socket_connection:
                        shared.setdefault(code, []).append(client.id)
                except Exception:  # one broken tab must not stop the others
                    log.exception("[PAGES] an activity chart failed to update")
            for code, tabs in shared.items():
                try:
                    await run_in_tabs(code, tabs)
                except Exception:  # tabs gone meanwhile must not stop the clock
                    log.exception("[PAGES] the shared activity chart failed to send")


CHARTS = ChartClock()


async def browser_timezone(client: Client) -> tzinfo:
    """The browser's UTC offset, so the minutes read as the viewer's clock shows them."""
    try:
        minutes = await client.run_javascript("-new Date().getTimezoneOffset()")
        return timezone(timedelta(minutes=int(minutes)))
    except (TimeoutError, TypeError, ValueError):  # no answer (or a tab gone): the server's
        return datetime.now().astimezone().tzinfo or UTC


class WorkflowsTable(ui.element, component="workflows_table.js"):
    """The table in the browser: rows go in whole once, then as patches of the rows that differ."""

    def __init__(self, page: views.WorkflowsPage) -> None:
        super().__init__()
        self._props.update(
            columns=COLUMNS,
            rowsPerPageOptions=list(views.PAGE_SIZES),
            phases=list(PHASES),
            colors=views.STATUS_COLORS,
        )
        self.keep(page)

    def keep(self, page: views.WorkflowsPage) -> None:
        """The page in the props too, so a full render of the element starts from it, without
        sending them now (a patch does that in a fraction of the bytes)."""
        with self.props.suspend_updates():
            self._props["rows"] = page.rows
            self._props["pagination"] = views.pagination(page)

    def patch(self, encoded: str) -> None:
        """Send a patch already encoded as JSON: one encoding serves every tab of a view."""
        self.client.run_javascript(f'return runMethod({self.id}, "patch", [{encoded}])')


class WorkflowsView:
    """The table and its counts for one browser tab; `LiveTables` brings it each change."""

    def __init__(self, shared: SharedPages, title: ui.label, header: Header) -> None:
        self.shared = shared
        self.title = title
        self.header = header
        self.query = views.WorkflowQuery()
        self.shown: views.WorkflowsPage | None = None
        self.visible = True  # the browser says when the tab is hidden, and when it is back
        self.behind = False  # a change came while hidden: render once it is visible
        self.build()

    def build(self) -> None:
        self.filters()
        self.empty = ui.label("No active workflows").classes("text-lg text-grey-7 q-pa-lg")
        self.empty.props("data-testid=workflows-empty").set_visibility(False)
        self.table = WorkflowsTable(self.shared.page(self.query)).classes("w-full")
        self.table.props("data-testid=workflows-table flat bordered binary-state-sort")
        # Quasar's server-side mode: paging and sorting ask us, and we answer with one page.
        self.table.on("request", self.on_request)
        self.table.on("visibility", self.on_visibility)
        self.render()

    def filters(self) -> None:
        with ui.row().classes("w-full items-center gap-3"):
            ui.input(
                placeholder="Search id, issue or branch",
                on_change=lambda e: self.update(search=e.value or ""),
            ).props("data-testid=search outlined dense clearable debounce=150").classes("w-72")
            ui.select(
                {views.ALL: "All statuses"} | {s: s for s in views.STATUSES},
                value=views.ALL,
                on_change=lambda e: self.update(status=e.value or views.ALL),
            ).props("data-testid=status-filter outlined dense").classes("w-40")
            ui.select(
                {views.ALL: "All phases"} | {p: p for p in PHASES},
                value=views.ALL,
                on_change=lambda e: self.update(phase=e.value or views.ALL),
            ).props("data-testid=phase-filter outlined dense").classes("w-40")
            ui.space()
            self.count = ui.label().props("data-testid=workflows-count").classes("text-grey-7")

    def update(self, **changes: Any) -> None:
        """A new search or filter starts again at the first page."""
        self.query = self.query.with_(page=1, **changes)
        self.render()

    def on_request(self, e: events.GenericEventArguments) -> None:
        pagination = _first(e.args)
        pagination = pagination if isinstance(pagination, dict) else {}
        sort_by = pagination.get("sortBy")
        self.query = self.query.with_(
            sort_by=sort_by or views.DEFAULT_SORT,
            descending=bool(pagination.get("descending")) if sort_by else True,
            page=int(pagination.get("page") or 1),
            per_page=int(pagination.get("rowsPerPage") or views.DEFAULT_PAGE_SIZE),
        )
        self.render()

    def on_visibility(self, e: events.GenericEventArguments) -> None:
        self.visible = bool(_first(e.args))
        if self.visible and self.behind:
            self.catch_up()

    def catch_up(self) -> None:
        """Bring this tab to the current state on its own, through its NiceGUI outbox (which
        holds messages while the tab reconnects). The shared path serves it again from the
        next change on, once it shows what the other tabs on its view show."""
        self.behind = False
        self.header.touch(self.shared.last_change_ts())
        self.render()

    def resync(self) -> None:
        """After a reconnect: a shared message may have gone to the dead socket, so the table
        goes whole once (the props), and the header with it."""
        page = self.shared.page(self.query)
        self.table.keep(page)
        self.table.update()
        self.shown = None
        self.catch_up()

    def render(self) -> None:
        """The visible page, shared with every tab on the same view; touch the browser only
        where something differs."""
        page = self.shared.page(self.query)
        before, self.shown = self.shown, page
        if before is page:
            return
        if before is None or before.total != page.total:
            self.title.text = views.heading(page.total)
            if self.table.visible != (page.total > 0):
                self.empty.visible = page.total == 0
                self.table.keep(page)
                self.table.visible = page.total > 0
        if before is None or (before.matching, before.total) != (page.matching, page.total):
            self.count.text = page.count_text
        # No `keep` per patch: the props are read only by a full render of the element (when
        # it appears), and wrapping 25 rows in NiceGUI's observables costs every tab each time.
        if before is not None and (encoded := self.shared.patch_json(before, page)) is not None:
            self.table.patch(encoded)


def _first(args: Any) -> Any:
    """An event's one argument, however NiceGUI wrapped it."""
    return args[0] if isinstance(args, list) and args else args


class LiveTables:
    """The open workflows tabs of this process and the one hub subscription that serves them.

    Per change, each distinct view is computed once (`SharedPages`), whatever the number of
    tabs on it, and its message (the change's time and the patch) is encoded once and sent by
    socket.io to every tab that shows what the view showed before. A tab out of that step
    (just opened, a new query, back from hidden, reconnecting, or counts that moved) catches up
    on its own. Renders come at most once per SETTLE_SECONDS: a burst folds into the next one.
    """

    def __init__(self) -> None:
        self.tabs: dict[WorkflowsView, Client] = {}
        self._subscription: Subscription[Change] | None = None
        self._pages: SharedPages | None = None
        # Per view: the page every tab in step with it shows.
        self._shown: dict[views.WorkflowQuery, views.WorkflowsPage] = {}

    def shared(self, collection: Collection) -> SharedPages:
        if self._pages is None or self._pages.collection is not collection:
            self._pages = SharedPages(collection)  # a new runtime (tests start several)
            self._shown = {}
        return self._pages

    def add(self, view: WorkflowsView, collection: Collection) -> None:
        client = ui.context.client
        self.tabs[view] = client
        client.on_delete(lambda: self._remove(view))
        on_reconnect(client, view.resync)
        sub = self._subscription
        if sub is None or sub.state is not SubscriptionState.OPEN:
            self._subscription = sub = collection.subscribe()
            background_tasks.create(self._run(collection, sub), name="live workflows tables")

    def _remove(self, view: WorkflowsView) -> None:
        self.tabs.pop(view, None)
        if not self.tabs and self._subscription is not None:
            self._subscription.close()  # nobody looks: the hub need not feed us

    async def _run(self, collection: Collection, sub: Subscription[Change]) -> None:
        while True:
            batch = await sub.next_batch()
            if not batch:
                if sub.state is not SubscriptionState.OVERFLOWED or sub is not self._subscription:
                    return  # closed: no tabs left, or the server is stopping
                # Fell behind: the changes in between are lost; tabs render from current state.
                self._subscription = sub = collection.subscribe()
            try:
                await self._render(self.shared(collection))
            except Exception:
                log.exception("[PAGES] the workflows tabs failed to render a change")
            await asyncio.sleep(SETTLE_SECONDS)

    async def _render(self, shared: SharedPages) -> None:
        by_view: dict[views.WorkflowQuery, list[WorkflowsView]] = {}
        for view, client in list(self.tabs.items()):
            if client.is_deleted:
                continue
            if not view.visible:
                view.behind = True  # rendered for when it is shown again
                continue
            by_view.setdefault(view.query, []).append(view)
        stamp = int((shared.last_change_ts() or time.time()) * 1000)
        for query, tabs in by_view.items():
            page, before = shared.page(query), self._shown.get(query)
            in_step = [v for v in tabs if v.shown is before and self.tabs[v].has_socket_connection]
            if before is None or (before.total, before.matching) != (page.total, page.matching):
                in_step = []  # the heading and counts are elements of each tab: each on its own
            for view in tabs:
                if view not in in_step:
                    try:
                        view.catch_up()
                    except Exception:  # one broken tab must not stop the others
                        log.exception("[PAGES] a workflows tab failed to apply a change")
            self._shown[query] = page
            if not in_step or before is None:
                continue
            encoded = shared.patch_json(before, page) or "null"
            code = f"window.lwWorkflows && window.lwWorkflows.tick({stamp}, {encoded})"
            for view in in_step:
                view.shown = page
            await run_in_tabs(code, [self.tabs[v].id for v in in_step])
        # Views nobody shows any more are forgotten.
        for query in set(self._shown) - set(by_view):
            del self._shown[query]


TABLES = LiveTables()


@ui.page("/", title="livewatch · Workflows")
def workflows_page() -> None:
    """The live dashboard of every workflow."""
    current = runtime.current()
    workflows = current.hub.workflows
    header = frame("/", workflows.last_change_ts)
    activity = ActivityView(current.activity)
    with ui.column().classes("lw-page gap-4"):
        with ui.row().classes("w-full items-center justify-between no-wrap"):
            with ui.column().classes("gap-1"):
                title = ui.label().classes("text-2xl font-bold")
                title.props("data-testid=workflows-heading")
                activity.total_label()
            activity.bar_chart()
        table = WorkflowsView(TABLES.shared(workflows), title, header)
        alerts_panel(limit=5)
    TABLES.add(table, workflows)
