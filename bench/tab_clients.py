"""Lightweight browser tabs: each loads `/` and keeps its NiceGUI socket.io session open.

They speak NiceGUI's real protocol (the page load creates the server-side client, the socket.io
connection attaches to it) but render nothing, so what they measure is the server alone. Every
frame is counted in bytes (its socket.io text: `42` and the JSON of the event and its data) and
searched for the markers of changes the benchmark is waiting for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import socketio

SOCKET_PATH = "/_nicegui_ws/socket.io"
# A real tab's round-trip probe (pages/layout.py PING_EVERY_MS): a per-tab cost, so paid here.
PROBE_EVERY_S = 15.0
# What a pushed activity chart carries (its total's label, the chart, new bars): counted apart,
# since it comes every 5 s whatever changed.
CHART_MARKERS = ('"activity-total"', '"activity-chart"', "lwActivity")
ELEMENTS = re.compile(r"parseElements\(String\.raw`(.*?)`\)", re.S)


@dataclass
class Frame:
    at: float  # perf_counter when it arrived
    size: int
    text: str


@dataclass
class Tab:
    """One open `/`: its NiceGUI client id, its socket, what it received."""

    client_id: str
    element_id: int  # the element whose listener the benchmark calls
    listener_id: str
    sio: socketio.AsyncClient
    frames: list[Frame] = field(default_factory=list)
    waiters: dict[str, asyncio.Future[float]] = field(default_factory=dict)
    lost: str | None = None  # why the session ended, when it ended on its own
    prober: asyncio.Task[None] | None = None
    keep: bool = True  # keep every frame's text (False: count them; /events sends 10 a second)
    count: int = 0

    def disconnected(self, reason: object = None) -> None:
        self.lost = str(reason)

    def received(self, event: str, data: Any) -> None:
        self.count += 1
        if not self.keep:
            return
        text = json.dumps([event, data], separators=(",", ":"))
        at = time.perf_counter()
        self.frames.append(Frame(at, len(text) + 2, text))
        # Seen marks leave the list: under load a tab gets 10 frames a second, and scanning
        # every change ever awaited starved this process until it missed its pings.
        for mark in [m for m in self.waiters if m in text]:
            waiter = self.waiters.pop(mark)
            if not waiter.done():
                waiter.set_result(at)

    def expect(self, mark: str) -> asyncio.Future[float]:
        waiter = self.waiters[mark] = asyncio.get_running_loop().create_future()
        return waiter

    def bytes_since(self, start: float, *, charts: bool = False) -> int:
        return sum(
            f.size
            for f in self.frames
            if f.at >= start and any(m in f.text for m in CHART_MARKERS) == charts
        )

    @property
    def connected(self) -> bool:
        return bool(self.sio.connected)

    async def sort(self, column: str, *, descending: bool) -> None:
        """What a click on a column header sends: Quasar's request, through NiceGUI's event."""
        pagination = {"sortBy": column, "descending": descending, "page": 1, "rowsPerPage": 25}
        await self._event(pagination)

    async def show(self, visible: bool) -> None:
        """What the `/events` feed sends when the tab is hidden or shown again."""
        await self._event(visible)

    async def _event(self, arg: Any) -> None:
        """One argument to the element's listener, as NiceGUI's script sends it."""
        if not self.connected:
            return  # a tab that lost its session (it is counted as such) has nothing to say
        await self.sio.emit(
            "event",
            {
                "id": self.element_id,
                "client_id": self.client_id,
                "listener_id": self.listener_id,
                "args": [json.dumps(arg)],
            },
        )

    async def probe(self) -> None:
        """What a shown page does: a `livewatch_ping` every 15 s, acked by the server."""
        await asyncio.sleep(random.uniform(0, PROBE_EVERY_S))  # tabs open at different times
        while self.connected:
            with contextlib.suppress(socketio.exceptions.TimeoutError):
                await self.sio.call("livewatch_ping", time.perf_counter() * 1000, timeout=2)
            await asyncio.sleep(PROBE_EVERY_S)

    async def close(self) -> None:
        if self.prober is not None:
            self.prober.cancel()
        if self.connected:
            await self.sio.disconnect()


def _element(html: str, event: str) -> tuple[int, str]:
    """The id of the page's element that listens for `event`, and that listener's id: the
    workflows table's `request`, or the `/events` feed's `visibility`."""
    found = ELEMENTS.search(html)
    if found is None:
        raise RuntimeError("no NiceGUI elements in the page")
    elements = json.loads(found.group(1))
    for element_id, element in elements.items():
        for listener in element.get("events", []):
            if listener["type"] == event:
                return int(element_id), listener["listener_id"]
    raise RuntimeError(f"no element in the page listens for {event!r}")


# Per page: the event its benchmark sends (a sort, a switch of tabs).
LISTENS = {"/": "request", "/events": "visibility"}


async def open_tab(
    http: httpx.AsyncClient, base: str, path: str = "/", *, keep: bool = True
) -> Tab:
    """Load `path` like a browser, then connect its socket.io session like NiceGUI's script."""
    html = (await http.get(base + path)).text
    client_id = re.search(r"'client_id': '([^']+)'", html)
    if client_id is None:
        raise RuntimeError("no NiceGUI client id in the page")
    element_id, listener = _element(html, LISTENS[path])
    sio = socketio.AsyncClient(reconnection=False)
    tab = Tab(client_id.group(1), element_id, listener, sio, keep=keep)
    sio.on("*", tab.received)
    sio.on("disconnect", tab.disconnected)
    query = {
        "client_id": tab.client_id,
        "next_message_id": "0",
        "implicit_handshake": "true",
        "document_id": uuid.uuid4().hex,
        "tab_id": uuid.uuid4().hex,
    }
    url = base + "?" + "&".join(f"{k}={v}" for k, v in query.items())
    await sio.connect(url, socketio_path=SOCKET_PATH, transports=["websocket"], wait_timeout=30)
    tab.prober = asyncio.create_task(tab.probe())
    return tab


async def open_tabs(
    base: str, count: int, *, path: str = "/", keep: bool = True, parallel: int = 10
) -> list[Tab]:
    gate = asyncio.Semaphore(parallel)
    async with httpx.AsyncClient(timeout=60) as http:

        async def one() -> Tab:
            async with gate:
                return await open_tab(http, base, path, keep=keep)

        return list(await asyncio.gather(*(one() for _ in range(count))))
