"""`/events`: one live feed of every agent event, with filters, pause and a pulse chart.

The feed is served by the shared ticker of `event_feed` (new rows only, ten times a second
at most, encoded once per filter for every tab) and keeps `MAX_ROWS` rows; the pulse charts
and rates of every tab are redrawn by one ticker once a second, and only where they changed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections.abc import Callable
from typing import Any

from nicegui import background_tasks, ui
from nicegui.client import Client

from livewatch import runtime
from livewatch.hub.activity import Activity
from livewatch.hub.event_filter import EventFilter
from livewatch.hub.event_log import EventLog
from livewatch.hub.event_views import initial_rows
from livewatch.hub.events import KINDS
from livewatch.hub.views import slid

from .event_feed import FEEDS, MAX_ROWS, EventFeed
from .layout import frame

logger = logging.getLogger("livewatch.pages")

PULSE_RANGES = {60: "1 min", 180: "3 min", 300: "5 min"}
ALL = "__all__"


def pulse_options(series: list[tuple[int, int]]) -> dict[str, Any]:
    return {
        "animation": False,
        "grid": {"left": 36, "right": 8, "top": 8, "bottom": 22},
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "data": [s for s, _ in series], "show": False},
        "yAxis": {"type": "value", "minInterval": 1, "splitNumber": 2},
        "series": [
            {"type": "bar", "name": "events/s", "data": [c for _, c in series], "barGap": 0}
        ],
    }


# The rate, the newest second of the span (epoch s), and the counts of each of its seconds.
Figures = tuple[float, int, list[int]]


class Pulses:
    """Every open pulse of one `Activity`, redrawn by one ticker once a second.

    The figures of each span are computed once a second for every tab. The bars move left in
    the browser as time passes (`lwSlide`), so a tab is sent new bars only when events came,
    and an idle tab is sent nothing; a hidden tab is not redrawn until it is shown.
    """

    def __init__(self, rate: Activity) -> None:
        self.rate = rate
        self.open: dict[Pulse, Client] = {}
        self._figures: dict[int, Figures] = {}
        self._second = -1
        self._task: asyncio.Task[None] | None = None

    def add(self, pulse: Pulse) -> None:
        client = ui.context.client
        self.open[pulse] = client
        client.on_delete(lambda: self.open.pop(pulse, None))
        if self._task is None or self._task.done():
            self._task = background_tasks.create(self._run(), name="events pulse ticker")

    def of(self, span: int) -> Figures:
        second = int(time.time())
        if second != self._second:
            self._second = second
            for known in list(self._figures):
                self._figures[known] = self._fresh(known)
        if span not in self._figures:
            self._figures[span] = self._fresh(span)
        return self._figures[span]

    def _fresh(self, span: int) -> Figures:
        series = self.rate.series(last=span)
        return (self.rate.rate(seconds=5), series[-1][0], [c for _, c in series])

    async def _run(self) -> None:
        while self.open:
            await asyncio.sleep(1.0)
            for pulse, client in list(self.open.items()):
                if client.is_deleted or not pulse.shown():
                    continue
                try:
                    pulse.draw(self.of(pulse.span))
                except Exception:  # one broken tab must not stop the others
                    logger.exception("[PAGES] a pulse chart failed to update")


_PULSES: weakref.WeakKeyDictionary[Activity, Pulses] = weakref.WeakKeyDictionary()


def pulses_of(rate: Activity) -> Pulses:
    if (pulses := _PULSES.get(rate)) is None:
        pulses = _PULSES[rate] = Pulses(rate)
    return pulses


class Pulse:
    """Events per second over the last 1, 3 or 5 minutes, and the current rate."""

    def __init__(self, rate: Activity, *, shown: Callable[[], bool] = lambda: True) -> None:
        self.rate = rate
        self.shown = shown  # a hidden tab's chart waits: it is redrawn when shown
        self.span = 60
        self._drawn: Figures | None = None
        with ui.row().classes("items-center gap-3"):
            self.label = ui.label().classes("text-lg font-bold")
            self.label.props("data-testid=events-rate")
            ui.toggle(
                {seconds: label for seconds, label in PULSE_RANGES.items()},
                value=self.span,
                on_change=lambda e: self.show_span(int(e.value)),
            ).props("dense data-testid=events-range")
        self.chart = ui.echart(pulse_options(rate.series(last=self.span)))
        self.chart.props("data-testid=events-pulse-chart").style("height: 110px; width: 100%")
        pulses = pulses_of(rate)
        self.draw(pulses.of(self.span))
        pulses.add(self)

    def show_span(self, seconds: int) -> None:
        self.span = seconds
        self.chart.options.update(pulse_options(self.rate.series(last=seconds)))
        self.chart.update()
        self._drawn = None  # the browser's bars are of the old span: send the new ones
        self.draw(pulses_of(self.rate).of(seconds))

    def draw(self, figures: Figures) -> None:
        if figures is self._drawn:
            return
        before, self._drawn = self._drawn, figures
        per_second, end, counts = figures
        text = f"{per_second:,.0f} events/s" if per_second >= 10 else f"{per_second:.1f} events/s"
        if self.label.text != text:
            self.label.text = text
            self.label.props["data-rate"] = round(per_second, 1)
        if before is not None and tuple(counts) == slid(before[2], end - before[1]):
            return  # the browser moved its bars by itself
        with self.chart.props.suspend_updates():  # a full render starts from them
            self.chart.options["series"][0]["data"] = counts
        slide = f"window.lwSlide({self.chart.id}, 1, {end}, {json.dumps(counts)})"
        self.chart.client.run_javascript(slide)


def filter_options(log: EventLog) -> dict[str, list[str]]:
    """The values seen in the window, for the filter menus (typing a new one works too)."""
    seen: dict[str, set[str]] = {"adw_id": set(), "agent": set(), "tool": set()}
    for event in log.recent(len(log)):
        for name, values in seen.items():
            if value := event.get(name):
                values.add(value)
    return {name: sorted(values)[:500] for name, values in seen.items()}


@ui.page("/events", title="livewatch · Events")
def events_page() -> None:
    """Every agent event, live."""
    current = runtime.current()
    log = current.hub.events
    frame("/events", log.last_event_ts)
    options = filter_options(log)
    state: dict[str, str | None] = {
        "workflow": None,
        "agent": None,
        "kind": None,
        "tool": None,
        "q": None,
    }

    with ui.column().classes("lw-page gap-3"):
        ui.label("Agent events").classes("text-2xl font-bold").props("data-testid=events-heading")
        Pulse(current.event_rate, shown=lambda: feed.tab_shown)
        with ui.row().classes("w-full items-center gap-3"):

            def choose(name: str, value: Any) -> None:
                state[name] = None if value in (None, "", ALL) else str(value)
                feed.matching = EventFilter(**state)
                feed.replace(initial_rows(log, feed.matching, MAX_ROWS))

            ui.input(
                placeholder="Search summaries, tools, agents",
                on_change=lambda e: choose("q", e.value),
            ).props("data-testid=search outlined dense clearable debounce=200").classes("w-72")
            for name, label, values, test_id in (
                ("workflow", "All workflows", options["adw_id"], "events-filter-workflow"),
                ("agent", "All agents", options["agent"], "events-filter-agent"),
                ("kind", "All kinds", list(KINDS), "events-filter-kind"),
                ("tool", "All tools", options["tool"], "events-filter-tool"),
            ):
                ui.select(
                    {ALL: label} | {v: v for v in values},
                    value=ALL,
                    with_input=True,
                    new_value_mode="add-unique",
                    on_change=lambda e, name=name: choose(name, e.value),
                ).props(f"data-testid={test_id} outlined dense").classes("w-44")

        def fresh_window() -> None:  # what came meanwhile: the newest rows, not a backlog
            feed.replace(initial_rows(log, feed.matching, MAX_ROWS))

        feed = EventFeed(
            initial_rows(log, EventFilter(), MAX_ROWS),
            on_pause=lambda paused: None if paused else fresh_window(),
            on_shown=fresh_window,
        )
    FEEDS.add(feed, log)
