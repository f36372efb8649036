"""`/`: every workflow, live, in a table that pages, sorts and filters on the server.

Only one page of rows (25 by default) is ever in the browser. A change re-renders the
table only when it alters what is on screen (the visible rows or the counts), so one
changed workflow costs a browser one page of rows at most, however many workflows exist.

Beside the heading, a small chart of changes per minute over the last hour. It is polled,
not pushed per change: every few seconds, and it sends only the bars (a few hundred bytes)
when they differ, so a burst of changes costs the browser one chart update, not one each.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from nicegui import events, ui

from livewatch import runtime
from livewatch.hub import views
from livewatch.hub.activity import Activity
from livewatch.hub.collection import Change, Collection
from livewatch.hub.records import PHASES

from .alerts_panel import alerts_panel
from .layout import follow, frame

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


def _js(value: Any) -> str:
    """A JSON value as a JavaScript literal that fits in a double-quoted HTML attribute."""
    return json.dumps(value).replace('"', "'")


def _squeeze(template: str) -> str:
    """The template travels with every table update: drop the whitespace that costs bytes."""
    return re.sub(r"\s+", " ", template).replace("> <", "><").strip()


# One row. The browser script fills `[data-ts]` with "12s ago" and keeps it ticking. The
# constants are inlined once here, so that rows need not carry them.
ROW_TEMPLATE = _squeeze(
    """
<q-tr :props="props" data-testid="workflow-row" :data-adw-id="props.row.adw_id"
 :data-status="props.row.status">
<q-td key="adw_id" :props="props">
 <a :href="'/workflows/' + props.row.adw_id" class="lw-mono text-primary">{{ props.row.adw_id }}</a>
 <div v-if="props.row.error" class="lw-error" data-testid="workflow-error">
  {{ props.row.error }}</div>
</q-td>
<q-td key="issue" :props="props">
 <a v-if="props.row.url" :href="props.row.url" target="_blank" class="text-primary">
  {{ props.row.issue }}</a>
 <span v-else>{{ props.row.issue }}</span>
</q-td>
<q-td key="issue_class" :props="props">{{ props.row.issue_class }}</q-td>
<q-td key="phase" :props="props">
 <span class="lw-steps" data-testid="phase-progress" :data-phase="props.row.phase"
  :data-steps="props.row.steps">
  <span v-for="(s, i) in props.row.steps" :class="'lw-step lw-' + s"
   :title="__PHASES__[i]">{{ s == 'd' ? '✓' : i + 1 }}</span>
  <span class="q-ml-sm">{{ props.row.phase }}</span>
 </span>
</q-td>
<q-td key="status" :props="props">
 <q-badge data-testid="status-badge" :color="__COLORS__[props.row.status]"
  :label="props.row.status" />
</q-td>
<q-td key="now" :props="props">
 <div v-if="props.row.now_text" class="lw-now" data-testid="now-activity"
  :data-agent="props.row.now_agent" :data-tool="props.row.now_tool"
  :data-kind="props.row.now_kind" :title="props.row.now_text">
  <span class="lw-mono">{{ props.row.now_agent }}</span> · {{ props.row.now_text }}
  <span class="lw-age" :data-ts="props.row.now_ts"></span></div>
 <div v-if="props.row.tokens" class="lw-tokens" data-testid="workflow-tokens">
  {{ props.row.tokens }}</div>
</q-td>
<q-td key="cost" :props="props">{{ props.row.cost }}</q-td>
<q-td key="updated" :props="props"><span :data-ts="props.row.ts"></span></q-td>
</q-tr>
""".replace("__PHASES__", _js(list(PHASES))).replace("__COLORS__", _js(views.STATUS_COLORS))
)


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
        ui.timer(CHART_SECONDS, self.refresh)

    async def refresh(self) -> None:
        if self.tz is None:
            self.tz = await browser_timezone()
        chart = views.activity_chart(self.activity.series(), self.tz)
        if chart == self.shown:
            return
        before, self.shown = self.shown, chart
        if chart.total != before.total:
            self.show_total()
        # Keep the element's options true for any full render, without sending them now.
        with self.chart.props.suspend_updates():
            self.chart.options["xAxis"]["data"] = list(chart.labels)
            self.chart.options["series"][0]["data"] = list(chart.counts)
        if chart.labels != before.labels:
            self.chart.update()  # once a minute the bars move left under new labels
        else:
            self.chart.run_chart_method("setOption", {"series": [{"data": list(chart.counts)}]})

    def show_total(self) -> None:
        self.total.text = self.shown.total_text
        self.total.props["data-total"] = self.shown.total


async def browser_timezone() -> tzinfo:
    """The browser's UTC offset, so the minutes read as the viewer's clock shows them."""
    try:
        minutes = await ui.run_javascript("-new Date().getTimezoneOffset()")
        return timezone(timedelta(minutes=int(minutes)))
    except (TimeoutError, TypeError, ValueError):  # no answer (or a tab gone): the server's
        return datetime.now().astimezone().tzinfo or UTC


class WorkflowsTable:
    """The table and its counts, kept in step with the hub for one browser tab."""

    def __init__(self, collection: Collection, title: ui.label) -> None:
        self.collection = collection
        self.title = title
        self.query = views.WorkflowQuery()
        self.shown: views.WorkflowsPage | None = None
        self.build()

    def build(self) -> None:
        self.filters()
        self.empty = ui.label("No active workflows").classes("text-lg text-grey-7 q-pa-lg")
        self.empty.props("data-testid=workflows-empty").set_visibility(False)
        self.table = ui.table(
            columns=COLUMNS,
            rows=[],
            row_key="adw_id",
            pagination={"rowsPerPage": self.query.per_page},
        ).classes("w-full")
        self.table.props("data-testid=workflows-table flat bordered binary-state-sort")
        self.table.props["rows-per-page-options"] = list(views.PAGE_SIZES)
        self.table.add_slot("body", ROW_TEMPLATE)
        # Quasar's server-side mode: paging and sorting ask us, and we answer with one page.
        self.table.on("request", self.on_request, js_handler="(r) => emit(r.pagination)")
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
        pagination = e.args or {}
        sort_by = pagination.get("sortBy")
        self.query = self.query.with_(
            sort_by=sort_by or views.DEFAULT_SORT,
            descending=bool(pagination.get("descending")) if sort_by else True,
            page=int(pagination.get("page") or 1),
            per_page=int(pagination.get("rowsPerPage") or views.DEFAULT_PAGE_SIZE),
        )
        self.render()

    def render(self) -> None:
        """Recompute the visible page; touch the browser only where something differs."""
        page = views.workflows_page(self.collection.records(), self.query)
        before = self.shown
        self.shown = page
        if before is None or before.total != page.total:
            self.title.text = views.heading(page.total)
            if self.table.visible != (page.total > 0):
                self.empty.visible = page.total == 0
                self.table.visible = page.total > 0
        if before is None or (before.matching, before.total) != (page.matching, page.total):
            self.count.text = page.count_text
        if before is None or (before.rows, before.query, before.matching) != (
            page.rows,
            page.query,
            page.matching,
        ):
            self.table.props["pagination"] = {
                "sortBy": page.query.sort_by,
                "descending": page.query.descending,
                "page": page.page,
                "rowsPerPage": page.query.per_page,
                "rowsNumber": page.matching,
            }
            self.table.rows = page.rows

    async def on_change(self, _: list[Change]) -> None:
        self.render()


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
        table = WorkflowsTable(workflows, title)
        alerts_panel(limit=5)

    async def on_change(batch: list[Change]) -> None:
        header.touch(workflows.last_change_ts)
        await table.on_change(batch)

    follow(workflows, on_change)
