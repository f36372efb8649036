"""The seed's `[WS] Broadcasted` line, kept useful: only when someone listened, at most 1/s.

Per-change lines with nobody connected scroll a newcomer's terminal for nothing, and at
thousands of events a second they would drown every other line. So a change no client
received goes to debug, and under load one info line a second stands for all the changes
since the last one, with their count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("livewatch.hub")


class BroadcastLog:
    """Throttled `[WS] Broadcasted N <name> update to M clients` lines for one collection."""

    def __init__(
        self, name: str, *, interval: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.interval = interval
        self.clock = clock
        self._last_line = -float("inf")
        self._changes = 0
        self._items = 0

    def broadcasted(self, items: int, clients: int) -> None:
        if clients == 0:
            log.debug("[WS] Broadcasted %d %s update to 0 clients", items, self.name)
            return
        self._changes += 1
        self._items += items
        now = self.clock()
        if now - self._last_line < self.interval:
            return
        if self._changes == 1:
            log.info("[WS] Broadcasted %d %s update to %d clients", items, self.name, clients)
        else:
            log.info(
                "[WS] Broadcasted %d %s update to %d clients (%d changes since the last line)",
                self._items,
                self.name,
                clients,
                self._changes,
            )
        self._last_line = now
        self._changes = 0
        self._items = 0
