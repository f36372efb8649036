"""`/routes`: the app's routes, as the seed's RoutesView shows them, kept live."""

from __future__ import annotations

import json
from typing import Any

from nicegui import ui

from livewatch import runtime
from livewatch.hub import views
from livewatch.hub.collection import Change, Collection

from .layout import follow, frame

COLUMNS: list[dict[str, Any]] = [
    {"name": name, "label": label, "field": name, "align": "left"}
    for name, label in (
        ("method", "Method"),
        ("path", "Path"),
        ("handler", "Handler"),
        ("description", "Description"),
    )
]

_COLORS = json.dumps(views.METHOD_COLORS).replace('"', "'")
ROW_TEMPLATE = f"""
<q-tr :props="props" data-testid="route-row" :data-method="props.row.method"
 :data-path="props.row.path" :data-handler="props.row.handler">
<q-td key="method" :props="props"><q-badge data-testid="method-badge"
 :color="{_COLORS}[props.row.method] || '{views.OTHER_COLOR}'"
 :text-color="props.row.method == 'PUT' ? 'black' : 'white'" :label="props.row.method" /></q-td>
<q-td key="path" :props="props" class="lw-mono">{{{{ props.row.path }}}}</q-td>
<q-td key="handler" :props="props" class="lw-mono">{{{{ props.row.handler }}}}</q-td>
<q-td key="description" :props="props" class="text-grey-8" style="white-space: normal">
{{{{ props.row.description }}}}</q-td>
</q-tr>"""


class RoutesTable:
    """Search, method filter, count line and table, for one browser tab."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self.search = ""
        self.method = views.ALL_METHODS
        with ui.row().classes("w-full items-center gap-3"):
            ui.input(
                placeholder="Search path, handler or description",
                on_change=lambda e: self.set(search=e.value or ""),
            ).props("data-testid=search outlined dense clearable debounce=150").classes("w-80")
            self.methods = (
                ui.select(
                    [views.ALL_METHODS],
                    value=views.ALL_METHODS,
                    on_change=lambda e: self.set(method=e.value or views.ALL_METHODS),
                )
                .props("data-testid=method-filter outlined dense")
                .classes("w-44")
            )
            ui.space()
            self.count = ui.label().props("data-testid=routes-count").classes("text-grey-7")
        self.table = ui.table(columns=COLUMNS, rows=[], row_key="key").classes("w-full")
        self.table.props("data-testid=routes-table flat bordered no-data-label='No routes'")
        self.table.add_slot("body", ROW_TEMPLATE)
        self.render()

    def set(self, **changes: str) -> None:
        for name, value in changes.items():
            setattr(self, name, value)
        self.render()

    def render(self) -> None:
        routes = self.collection.records()
        options = views.method_options(routes)
        if self.methods.options != options:
            # A method that vanished from the app can no longer be the filter.
            if self.method not in options:
                self.method = views.ALL_METHODS
            self.methods.set_options(options, value=self.method)
        shown = views.sort_routes(views.filter_routes(routes, self.search, self.method))
        rows = [views.route_row(r) for r in shown]
        self.count.text = views.routes_count_text(len(rows), len(routes))
        if self.table.rows != rows:
            self.table.rows = rows

    async def on_change(self, _: list[Change]) -> None:
        self.render()


@ui.page("/routes", title="livewatch · Routes")
def routes_page() -> None:
    """The routes of the app, searchable and filtered by method."""
    routes = runtime.current().hub.routes
    header = frame("/routes", routes.last_change_ts)
    with ui.column().classes("lw-page gap-4"):
        ui.label("API Routes").classes("text-2xl font-bold").props("data-testid=routes-heading")
        table = RoutesTable(routes)

    async def on_change(batch: list[Change]) -> None:
        header.touch(routes.last_change_ts)
        await table.on_change(batch)

    follow(routes, on_change)
