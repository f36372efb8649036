"""`/alerts`: the newest alerts and how their delivery went, live."""

from __future__ import annotations

from nicegui import ui

from livewatch import runtime

from .alerts_panel import alerts_panel
from .layout import frame


@ui.page("/alerts", title="livewatch · Alerts")
def alerts_page() -> None:
    frame("/alerts", runtime.current().hub.workflows.last_change_ts)
    with ui.column().classes("lw-page gap-4"):
        alerts_panel(limit=50)
