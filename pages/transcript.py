"""One agent's live transcript on the detail page: followed like `tail -f`, paged on request."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from nicegui import ui
from nicegui.events import GenericEventArguments

from livewatch.hub.event_filter import EventFilter

PAGE = 200


class AgentTranscript(ui.element, component="transcript.js"):
    """Oldest first; new rows are appended, older pages prepended when asked for."""

    def __init__(
        self,
        adw_id: str,
        agent: str,
        rows: list[dict[str, Any]],
        *,
        older: Callable[[int | None], list[dict[str, Any]]],
        on_resume: Callable[[], list[dict[str, Any]]],
    ) -> None:
        super().__init__()
        self._props["agent"] = agent
        self._props["rows"] = rows
        self._props["hasOlder"] = len(rows) >= PAGE
        self.matching = EventFilter(workflow=adw_id, agent=agent)
        self.paused = False
        self._older = older
        self._on_resume = on_resume
        self.on("pause", self._paused, args=["*"])
        self.on("older", self._load_older, args=["*"])

    def push(self, rows: list[dict[str, Any]]) -> None:
        self.run_method("append", rows[::-1])  # the ticker gives newest first

    def missed(self, count: int) -> None:
        self.run_method("countMissed", count)

    def _paused(self, e: GenericEventArguments) -> None:
        self.paused = bool(e.args[0] if isinstance(e.args, list) and e.args else e.args)
        if not self.paused:
            self.run_method("replace", self._on_resume())

    async def _load_older(self, e: GenericEventArguments) -> None:
        before = e.args[0] if isinstance(e.args, list) and e.args else e.args
        rows = await asyncio.to_thread(self._older, before if isinstance(before, int) else None)
        if len(rows) < PAGE:
            self._props["hasOlder"] = False
            self.update()
        if rows:
            self.run_method("prependOlder", rows)
