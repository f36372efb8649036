"""Which workflow transitions make an alert, and what it says: pure, no I/O."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

EVENTS = ("failed", "completed", "stalled", "error")
DEFAULT_EVENTS = ("failed", "stalled")
# Shown by the browser's Notification API when the operator opted in.
NOTIFY_EVENTS = frozenset({"failed", "stalled"})

Record = dict[str, Any]
# A workflow first seen this soon after its last write is news, not backlog.
FRESH_S = 120.0


@dataclass(frozen=True)
class Rules:
    """`--alert-on` (a status entered) and `--alert-cost-usd` (a run's cost crossing X)."""

    on: frozenset[str] = frozenset(DEFAULT_EVENTS)
    cost_usd: float | None = None
    base_url: str = "http://127.0.0.1:8000"  # where the run's page link points


@dataclass(frozen=True)
class Alert:
    """One transition's alert. `key` is the same on every replica and after any restart."""

    key: str
    event: str
    adw_id: str
    body: dict[str, Any] = field(hash=False)


def alerts_for(
    before: Record | None, after: Record, rules: Rules, *, now: float | None = None
) -> list[Alert]:
    """The alerts one record change makes.

    `before` is None for a workflow seen for the first time since the start. It alerts only
    when it was written in the last FRESH_S (a run that failed at once); an older one is a
    backlog (a replica catching up with Redis), which would alert every replica and restart.
    """
    if before is None:
        written = _epoch(after.get("updated_at"))
        if written is None or abs((time.time() if now is None else now) - written) > FRESH_S:
            return []
        before = {}
    found = []
    status = after.get("status")
    if status != before.get("status") and status in rules.on:
        found.append(_alert(status, _transition_key(status, after), after, rules))
    limit = rules.cost_usd
    if limit is not None and _usd(after) >= limit > _usd(before):
        found.append(_alert("cost", f"cost:{limit:g}", after, rules))
    return found


def _epoch(iso: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(iso)).timestamp()
    except ValueError:
        return None


def _usd(record: Record) -> float:
    cost = record.get("cost_usd")
    return float(cost) if isinstance(cost, int | float) else 0.0


def _transition_key(status: str, record: Record) -> str:
    """What tells this transition from another of the same workflow into the same status.

    A stall (or a broken state file) ends with the next write, so its last write names it;
    a failure is one per phase (a retried phase may fail again); completion happens once.
    """
    if status in ("stalled", "error"):
        return f"{status}:{record.get('updated_at')}"
    if status == "failed":
        return f"failed:{record.get('phase')}"
    return status


def _alert(event: str, suffix: str, record: Record, rules: Rules) -> Alert:
    adw_id = str(record["adw_id"])
    link = f"{rules.base_url.rstrip('/')}/workflows/{adw_id}"
    text = describe(event, record, rules, link)
    key = f"{adw_id}:{suffix}"
    body = {
        # One id per transition, the same on every attempt: a delivery whose answer was lost
        # (a crash between the POST and its record) is sent again, and a receiver can drop it.
        "id": key,
        "event": event,
        "adw_id": adw_id,
        "status": record.get("status"),
        "phase": record.get("phase"),
        "issue_number": record.get("issue_number"),
        "cost_usd": record.get("cost_usd"),
        "url": link,
        # Slack's incoming webhooks read `text`, Discord's read `content`: both, so either
        # takes the body as it is (each ignores the other's field).
        "text": text,
        "content": text,
    }
    return Alert(key, event, adw_id, body)


def describe(event: str, record: Record, rules: Rules, link: str) -> str:
    """One human line, e.g. "Workflow a1b2c3d4 (issue #42) failed in build · $1.20 · <link>"."""
    phase, since = record.get("phase"), record.get("updated_at")
    what = {
        "failed": f"failed in {phase}",
        "completed": "completed",
        "stalled": f"stalled in {phase}: nothing written since {since}",
        "error": "has a broken adw_state.json",
        "cost": f"crossed ${rules.cost_usd:g}" if rules.cost_usd is not None else "cost",
    }[event]
    issue = record.get("issue_number")
    parts = [f"Workflow {record['adw_id']}" + (f" (issue #{issue})" if issue else "") + f" {what}"]
    cost = record.get("cost_usd")
    if isinstance(cost, int | float):
        parts.append(f"${cost:.2f}")
    parts.append(link)
    return " · ".join(parts)
