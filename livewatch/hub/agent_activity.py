"""Each workflow's live agent activity: the newest event ("now") and the tokens used so far.

Events come by the thousand each second; workflow records must not change that often, or
every workflows client and page would redraw at that rate. So events only mark a workflow
dirty, and `flush()` (called a few times a second) re-applies the dirty records once: the
collection's overlay adds `now` and `tokens` on the way in, and a fresh read from disk keeps
them too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from livewatch.hub.collection import Collection, Record
from livewatch.hub.events import Event


class AgentActivity:
    """`now` and `tokens` per adw_id, overlaid on the workflows collection."""

    def __init__(self, workflows: Collection) -> None:
        self.workflows = workflows
        self._now: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, list[int]] = {}
        self._dirty: set[str] = set()
        workflows.overlay = self.overlay

    def seed_tokens(self, totals: Iterable[tuple[str, int, int]]) -> None:
        """Totals already stored (adw_id, in, out), before events from this run add to them."""
        for adw_id, tokens_in, tokens_out in totals:
            self._tokens[adw_id] = [int(tokens_in or 0), int(tokens_out or 0)]
            self._dirty.add(adw_id)

    def observe(self, events: list[Event]) -> None:
        for event in events:
            adw_id = event.get("adw_id")
            if not adw_id:
                continue
            if event.get("tokens_in") or event.get("tokens_out"):
                totals = self._tokens.setdefault(adw_id, [0, 0])
                totals[0] += event.get("tokens_in") or 0
                totals[1] += event.get("tokens_out") or 0
            self._now[adw_id] = {
                "agent": event.get("agent") or "",
                "kind": event.get("kind") or "",
                "tool": event.get("tool"),
                "summary": event.get("summary") or "",
                "ts": int(event.get("ts") or 0),
            }
            self._dirty.add(adw_id)

    def overlay(self, record: Record) -> Record:
        adw_id = record.get("adw_id")
        now = self._now.get(adw_id) if record.get("status") == "running" else None
        totals = self._tokens.get(adw_id)
        tokens = {"in": totals[0], "out": totals[1]} if totals else None
        if "now" in record and record["now"] == now and record.get("tokens") == tokens:
            return record
        return {**record, "now": now, "tokens": tokens}

    def flush(self) -> int:
        """Re-apply the workflows whose activity changed; returns how many changed."""
        if not self._dirty:
            return 0
        dirty, self._dirty = self._dirty, set()
        records = [r for adw_id in dirty if (r := self.workflows.get(adw_id)) is not None]
        change = self.workflows.apply(records)
        return 0 if change is None else len(change.upsert)
