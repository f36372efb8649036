"""What an open tab costs the server while nothing changes: two of NiceGUI's defaults, relaxed.

The team-scale bound is 0.1 ms of server CPU a second per idle tab. NiceGUI 3.18 spends more
than that on timers alone:
- engine.io pings every tab every 4 s, and its service task wakes `tabs / 2` times a second;
- every tab's outbox wakes once a second (`asyncio.wait_for(..., timeout=1.0)`) to find
  nothing to send: on Python 3.11 that builds and cancels a task each time, ~38 µs a tab.

A link that dies silently is found by the page's own probe instead (`ping` in layout.py).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from nicegui import app, core
from nicegui import outbox as nicegui_outbox

log = logging.getLogger("livewatch.pages")

T = TypeVar("T")

# engine.io's own defaults; the server drops a tab that answers no ping for 45 s.
ENGINEIO_PING_INTERVAL_S = 25
ENGINEIO_PING_TIMEOUT_S = 20

# The outbox's idle wait, as NiceGUI 3.18 spells it: the patch applies only to that code.
IDLE_WAIT = "await asyncio.wait_for(self._enqueue_event.wait(), timeout=1.0)"


@app.on_startup
def _relax_engineio_pings() -> None:
    """Set on start-up: NiceGUI sets its own values there first."""
    core.sio.eio.ping_interval = ENGINEIO_PING_INTERVAL_S
    core.sio.eio.ping_timeout = ENGINEIO_PING_TIMEOUT_S


class _UntimedWaitFor:
    """`asyncio` as NiceGUI's outbox module sees it, with its one `wait_for` (the idle wait)
    untimed. The timeout only made the loop look at a stop flag once a second, and
    `Outbox.stop()` wakes the loop itself (as does every enqueue), so nothing waits on it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    async def wait_for(awaitable: Awaitable[T], timeout: float | None = None) -> T:
        return await awaitable


def untime_outbox_idle_wait() -> bool:
    """Apply the patch where NiceGUI's outbox is the code it was written for; say whether."""
    if isinstance(nicegui_outbox.asyncio, _UntimedWaitFor):
        return True
    source = inspect.getsource(nicegui_outbox)
    if source.count("wait_for(") != 1 or IDLE_WAIT not in source:
        log.warning("[PAGES] NiceGUI's outbox changed: its idle wait is left as it is")
        return False
    nicegui_outbox.asyncio = _UntimedWaitFor()  # type: ignore[assignment]
    return True


untime_outbox_idle_wait()
