"""`/history`: what ran over the last 7, 30 or 90 days: four charts and the runs behind them.

Everything shown comes from the history store's summary and runs page (read in a thread);
this module only lays them out. The charts are ECharts (`ui.echart`); the table holds the
first `TABLE_ROWS` runs of the range, newest, slowest or costliest first (asked of the
server), and sorts those by any column in the browser.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui

from livewatch import runtime
from livewatch.hub.records import PHASES

from .layout import frame

RANGES = {7: "7 days", 30: "30 days", 90: "90 days"}
SORTS = {"newest": "Newest", "slowest": "Slowest", "costliest": "Costliest"}
OUTCOME_COLORS = {
    "completed": "#21ba45",
    "failed": "#c10015",
    "stalled": "#f2c037",
    "running": "#1976d2",
}
TABLE_ROWS = 100
NONE = "-"
CHART_STYLE = "height: 260px; width: 100%"

COLUMNS: list[dict[str, Any]] = [
    {"name": name, "label": label, "field": name, "sortable": True, "align": "left"}
    for name, label in (
        ("adw_id", "ADW ID"),
        ("issue", "Issue"),
        ("issue_class", "Class"),
        ("model_set", "Models"),
        ("outcome", "Outcome"),
        ("started", "Started (UTC)"),
        ("duration_s", "Duration"),
        ("cost_usd", "Cost"),
        ("phases", "Phases"),
    )
]
ROW_TEMPLATE = """
<q-tr :props="props" data-testid="history-row" :data-adw-id="props.row.adw_id"
 :data-outcome="props.row.outcome">
 <q-td key="adw_id" :props="props">
  <a :href="'/workflows/' + props.row.adw_id" class="lw-mono text-primary">
   {{ props.row.adw_id }}</a>
 </q-td>
 <q-td key="issue" :props="props">{{ props.row.issue }}</q-td>
 <q-td key="issue_class" :props="props">{{ props.row.issue_class }}</q-td>
 <q-td key="model_set" :props="props">{{ props.row.model_set }}</q-td>
 <q-td key="outcome" :props="props">{{ props.row.outcome }}</q-td>
 <q-td key="started" :props="props">{{ props.row.started }}</q-td>
 <q-td key="duration_s" :props="props">{{ props.row.duration }}</q-td>
 <q-td key="cost_usd" :props="props">{{ props.row.cost }}</q-td>
 <q-td key="phases" :props="props" class="text-xs">{{ props.row.phases }}</q-td>
</q-tr>
"""


def _duration(ms: float | None) -> str:
    if ms is None:
        return NONE
    seconds = int(ms // 1000)
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86_400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 86_400}d {seconds % 86_400 // 3600}h"


def table_row(run: dict[str, Any]) -> dict[str, Any]:
    cost = run["cost_usd"]
    return {
        "adw_id": run["adw_id"],
        "issue": "" if run["issue_number"] is None else f"#{run['issue_number']}",
        "issue_class": run["issue_class"] or "",
        "model_set": run["model_set"] or "",
        "outcome": run["outcome"],
        "started": (run["started_at"] or "")[:16].replace("T", " "),
        "duration_s": run["duration_ms"] // 1000,
        "duration": _duration(run["duration_ms"]),
        "cost_usd": cost if cost is not None else -1,
        "cost": NONE if cost is None else f"${cost:.2f}",
        "phases": " · ".join(f"{p['phase']} {_duration(p['duration_ms'])}" for p in run["phases"]),
    }


def _base(title: str) -> dict[str, Any]:
    return {
        "animation": False,
        "title": {"text": title, "textStyle": {"fontSize": 13}},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 24, "type": "scroll"},
        "grid": {"left": 48, "right": 12, "top": 60, "bottom": 28},
    }


def runs_chart(summary: dict[str, Any]) -> dict[str, Any]:
    days = summary["days"]
    return _base("Runs per day") | {
        "xAxis": {"type": "category", "data": [d["day"][5:] for d in days]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [
            {
                "name": outcome,
                "type": "bar",
                "stack": "runs",
                "color": color,
                "data": [d["runs"].get(outcome, 0) for d in days],
            }
            for outcome, color in OUTCOME_COLORS.items()
        ],
    }


def cost_chart(summary: dict[str, Any]) -> dict[str, Any]:
    days = summary["days"]
    model_sets = sorted({name for d in days for name in d["cost_usd"]})
    return _base("Cost per day (USD) by model set") | {
        "xAxis": {"type": "category", "data": [d["day"][5:] for d in days]},
        "yAxis": {"type": "value"},
        "series": [
            {
                "name": name,
                "type": "bar",
                "stack": "cost",
                "data": [round(d["cost_usd"].get(name, 0.0), 2) for d in days],
            }
            for name in model_sets
        ],
    }


def phase_chart(summary: dict[str, Any]) -> dict[str, Any]:
    phases = summary["phases"]

    def minutes(ms: float | None) -> float | None:
        return None if ms is None else round(ms / 60_000, 1)

    return _base("Phase duration (minutes)") | {
        "xAxis": {"type": "category", "data": list(PHASES)},
        "yAxis": {"type": "value"},
        "series": [
            {
                "name": f"p{q}",
                "type": "bar",
                "data": [minutes(phases[p][f"p{q}_ms"]) for p in PHASES],
            }
            for q in (50, 95)
        ],
    }


def class_chart(summary: dict[str, Any]) -> dict[str, Any]:
    classes = summary["classes"]
    names = list(classes)
    return _base("Success rate per issue class (%)") | {
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "data": names},
        "yAxis": {"type": "value", "max": 100},
        "series": [
            {
                "name": "success",
                "type": "bar",
                "color": OUTCOME_COLORS["completed"],
                "data": [
                    None
                    if classes[n]["success_rate"] is None
                    else round(classes[n]["success_rate"] * 100, 1)
                    for n in names
                ],
            }
        ],
    }


CHARTS = (
    ("history-runs-chart", runs_chart),
    ("history-cost-chart", cost_chart),
    ("history-phase-chart", phase_chart),
    ("history-class-chart", class_chart),
)


@ui.page("/history", title="livewatch · History")
async def history_page() -> None:
    """Runs over time: outcomes, cost, phase durations, success per class, and the runs."""
    current = runtime.current()
    frame("/history", current.hub.workflows.last_change_ts)
    history = current.history
    state: dict[str, Any] = {"days": 30, "sort": "newest"}

    with ui.column().classes("lw-page gap-3 w-full"):
        ui.label("Run history").classes("text-2xl font-bold").props("data-testid=history-heading")
        if history is None:
            ui.label("The history database is not open.").props("data-testid=history-missing")
            return
        with ui.row().classes("items-center gap-3"):
            ui.toggle(
                RANGES, value=state["days"], on_change=lambda e: show(days=int(e.value))
            ).props("dense data-testid=history-range")
            ui.toggle(
                SORTS, value=state["sort"], on_change=lambda e: show(sort=str(e.value))
            ).props("dense data-testid=history-sort")
            export = ui.link("Export CSV", "/api/history/runs.csv?days=30")
            export.props("download data-testid=history-export").classes("text-primary")
            error = ui.label().classes("text-negative").props("data-testid=history-error")
        charts = {}
        with ui.grid(columns=2).classes("w-full gap-3"):
            for test_id, _ in CHARTS:
                charts[test_id] = ui.echart({}).props(f"data-testid={test_id}")
                charts[test_id].style(CHART_STYLE)
        table = ui.table(columns=COLUMNS, rows=[], row_key="adw_id", pagination=25)
        table.props("data-testid=history-table flat bordered dense").classes("w-full")
        table.add_slot("body", ROW_TEMPLATE)

    async def load() -> None:
        days, sort = state["days"], state["sort"]
        try:
            summary = await asyncio.to_thread(history.store.summary, days)
            page = await asyncio.to_thread(
                history.store.runs, from_ms=summary["from_ms"], sort=sort, limit=TABLE_ROWS
            )
        except Exception as failure:  # a database down: say so, keep what is shown
            error.text = f"History unavailable: {failure}"[:300]
            return
        error.text = ""
        for test_id, build in CHARTS:
            charts[test_id].options.clear()
            charts[test_id].options.update(build(summary))
            charts[test_id].update()
        table.rows = [table_row(run) for run in page["runs"]]
        table.update()
        export.props["href"] = f"/api/history/runs.csv?days={days}&sort={sort}"
        export.update()

    def show(**changes: Any) -> None:
        state.update(changes)
        ui.timer(0, load, once=True)

    await load()
