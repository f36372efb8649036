"""Fold the hub's workflow changes and agent `result` events into history rows.

The folding is pure (`fold_record`, `agent_row`): a record seen now, and what was seen of it
before, give the run's row and the phases that started or ended. `RunRecorder` keeps that
memory and hands the rows to the store, which writes them in its own thread.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from livewatch.hub.collection import Change
from livewatch.hub.events import Event
from livewatch.hub.records import ENDED
from livewatch.sources.transcript import usage_tokens
from livewatch.store.history_sql import outcome_of

Row = dict[str, Any]
Seen = tuple[str, str]  # (phase, outcome) of a run as last folded
MAX_RESULT_LINE = 1024 * 1024  # a result line past this is not parsed for turns and tokens


class RowSink(Protocol):
    def submit(self, table: str, rows: list[Row]) -> None: ...


def fold_record(
    previous: Seen | None, record: dict[str, Any], now_ms: int
) -> tuple[Row, list[Row]]:
    """The run row for `record` seen at `now_ms`, and the phase rows its change implies.

    A new phase starts now and ends the one before; a run that turns final ends its phase.
    Starts are merged with what is stored (the earliest wins), so a phase first seen after a
    restart keeps the start it had.
    """
    adw_id = record["adw_id"]
    outcome = outcome_of(record.get("status"))
    phase = record.get("phase") or "plan"
    final = outcome in ENDED
    tokens = record.get("tokens") or {}
    run = {
        "adw_id": adw_id,
        "first_seen_ms": now_ms,
        "last_seen_ms": now_ms,
        "ended_ms": now_ms if final else None,
        "duration_ms": 0,  # recomputed from the stored times on every upsert
        "host": record.get("host"),
        "issue_number": record.get("issue_number"),
        "issue_class": record.get("issue_class"),
        "model_set": record.get("model_set"),
        "status": record.get("status") or "idle",
        "outcome": outcome,
        "cost_usd": record.get("cost_usd"),
        "tokens_in": tokens.get("in"),
        "tokens_out": tokens.get("out"),
    }

    def phase_row(name: str, ended: int | None) -> Row:
        return {"adw_id": adw_id, "phase": name, "started_ms": now_ms, "ended_ms": ended}

    if previous is None:
        # First sight in this process: the phase is under way (its end, if any, is stored).
        return run, [phase_row(phase, None)]
    old_phase, old_outcome = previous
    phases = []
    if old_phase != phase:
        phases += [phase_row(old_phase, now_ms), phase_row(phase, now_ms if final else None)]
    elif final and old_outcome not in ENDED:
        phases.append(phase_row(phase, now_ms))
    return run, phases


def agent_row(event: Event) -> Row | None:
    """An agent's row from its transcript's `result` event; None for any other event."""
    adw_id, agent = event.get("adw_id"), event.get("agent")
    if event.get("kind") != "result" or not adw_id or not agent:
        return None
    data: dict[str, Any] = {}
    payload = event.get("payload") or ""
    if 0 < len(payload) <= MAX_RESULT_LINE:
        try:
            parsed = json.loads(payload)
        except (ValueError, RecursionError):
            parsed = None
        data = parsed if isinstance(parsed, dict) else {}
    usage = data.get("usage")
    tokens_in, tokens_out = usage_tokens(usage) if isinstance(usage, dict) else (None, None)
    return {
        "adw_id": adw_id,
        "agent": agent,
        "ended_ms": int(event.get("ts") or 0),
        "num_turns": _number(data.get("num_turns"), int),
        "duration_ms": _number(data.get("duration_ms"), float),
        "cost_usd": event.get("cost_usd"),
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "is_error": bool(event.get("is_error")),
    }


def _number(value: Any, kind: Callable[[Any], Any]) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return kind(value)
    except (ValueError, OverflowError):
        return None


# Fields that move with every change (times are "now"; the store keeps the first start and
# end) or with every agent message (the hub folds tokens in at the event rate): a run row
# that differs only in these is sent at most every HOLD_MS, the newest one.
PROGRESS = ("first_seen_ms", "last_seen_ms", "ended_ms", "tokens_in", "tokens_out", "cost_usd")
HOLD_MS = 2000


class RunRecorder:
    """Remembers each run's phase and outcome, and submits what changed to the store.

    At thousands of agent events a second a running workflow changes many times a second,
    mostly in its tokens; each change was a run upsert and a day to roll up again. Such a
    row is now held and sent with the next one due (within HOLD_MS of the last sent, or at
    `flush`); a row whose outcome, phase or other facts moved goes at once.
    """

    def __init__(self, sink: RowSink) -> None:
        self.sink = sink
        self._seen: dict[str, Seen] = {}
        self._sent: dict[str, tuple[int, tuple[Any, ...]]] = {}  # adw_id -> (ms, its facts)
        self._held: dict[str, Row] = {}

    def seed(self, records: Iterable[dict[str, Any]]) -> None:
        """Remember records as they are at start-up, without recording them: only what
        changes from here on is news (the backfill covers what was there)."""
        for record in records:
            self._seen[record["adw_id"]] = (run_phase(record), outcome_of(record.get("status")))

    def observe(self, change: Change) -> None:
        """A hub change: one run row per upserted record, and the phases it moved."""
        now_ms = int(change.ts * 1000)
        runs: list[Row] = []
        phases: list[Row] = []
        for record in change.upsert:
            adw_id = record["adw_id"]
            if record.get("status") == "error":
                continue  # its state file cannot be used: nothing trustworthy to record
            run, moved = fold_record(self._seen.get(adw_id), record, now_ms)
            self._seen[adw_id] = (run_phase(record), run["outcome"])
            if self._due(run, now_ms) or moved:
                runs.append(run)
                self._mark_sent(run, now_ms)
            else:
                self._held[adw_id] = run
            phases += moved
        for adw_id in change.remove:
            self._seen.pop(adw_id, None)
            self._sent.pop(adw_id, None)
            if (held := self._held.pop(adw_id, None)) is not None:
                runs.append(held)
        runs += self._released(now_ms)
        if runs:
            self.sink.submit("runs", runs)
        if phases:
            self.sink.submit("run_phases", phases)

    def flush(self) -> None:
        """Send every held row now (at shutdown)."""
        if held := list(self._held.values()):
            self._held.clear()
            self.sink.submit("runs", held)

    def _due(self, run: Row, now_ms: int) -> bool:
        sent = self._sent.get(run["adw_id"])
        return sent is None or sent[1] != _facts(run) or now_ms - sent[0] >= HOLD_MS

    def _mark_sent(self, run: Row, now_ms: int) -> None:
        self._sent[run["adw_id"]] = (now_ms, _facts(run))
        self._held.pop(run["adw_id"], None)

    def _released(self, now_ms: int) -> list[Row]:
        """Held rows whose wait is over (sent along with any change)."""
        due = [
            run for adw_id, run in self._held.items() if now_ms - self._sent[adw_id][0] >= HOLD_MS
        ]
        for run in due:
            self._mark_sent(run, now_ms)
        return due

    def observe_events(self, events: list[Event]) -> None:
        """Agent events: each `result` one gives its agent's row."""
        rows = [
            row for event in events if event.get("kind") == "result" if (row := agent_row(event))
        ]
        if rows:
            self.sink.submit("run_agents", rows)


def _facts(run: Row) -> tuple[Any, ...]:
    return tuple(v for k, v in run.items() if k not in PROGRESS)


def run_phase(record: dict[str, Any]) -> str:
    return record.get("phase") or "plan"
