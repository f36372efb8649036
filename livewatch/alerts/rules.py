"""Which workflow transitions make an alert, and what it says: pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EVENTS = ("failed", "completed", "stalled", "error")
DEFAULT_EVENTS = ("failed", "stalled")
# Shown by the browser's Notification API when the operator opted in.
NOTIFY_EVENTS = frozenset({"failed", "stalled"})

Record = dict[str, Any]


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


def alerts_for(before: Record | None, after: Record, rules: Rules) -> list[Alert]:
    """The alerts one record change makes; none for a record seen for the first time.

    A first sighting (a start, a replica joining) is no transition: the status may be a day
    old, and every replica and restart would alert for the whole backlog.
    """
    if before is None:
        return []
    found = []
    status = after.get("status")
    if status != before.get("status") and status in rules.on:
        found.append(_alert(status, _transition_key(status, after), after, rules))
    limit = rules.cost_usd
    if limit is not None and _usd(after) >= limit > _usd(before):
        found.append(_alert("cost", f"cost:{limit:g}", after, rules))
    return found


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
    body = {
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
    return Alert(f"{adw_id}:{suffix}", event, adw_id, body)


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
