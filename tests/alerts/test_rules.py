"""Which transitions alert, under which key, saying what: pure functions, no I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from livewatch.alerts.rules import Rules, alerts_for

RULES = Rules(base_url="https://dash.example.com/")


def wf(status: str, **fields: Any) -> dict[str, Any]:
    record = {
        "adw_id": "a1b2c3d4",
        "status": status,
        "phase": "build",
        "issue_number": 42,
        "cost_usd": 1.25,
        "updated_at": "2026-11-27T09:00:00+00:00",
    }
    return record | fields


def test_a_first_sighting_alerts_only_when_it_is_news() -> None:
    written = datetime.fromisoformat(wf("failed")["updated_at"]).timestamp()
    assert alerts_for(None, wf("failed"), RULES, now=written + 3600) == []  # a backlog
    fresh = alerts_for(None, wf("failed"), RULES, now=written + 5)  # a run that failed at once
    assert [a.key for a in fresh] == ["a1b2c3d4:failed:build"]
    assert alerts_for(None, wf("running"), RULES, now=written + 5) == []


def test_failed_alerts_once_per_phase_with_a_body_slack_and_discord_take() -> None:
    [alert] = alerts_for(wf("running"), wf("failed"), RULES)
    assert alert.key == "a1b2c3d4:failed:build"
    body = alert.body
    assert {k: body[k] for k in ("event", "adw_id", "status", "phase", "issue_number")} == {
        "event": "failed",
        "adw_id": "a1b2c3d4",
        "status": "failed",
        "phase": "build",
        "issue_number": 42,
    }
    assert body["cost_usd"] == 1.25
    assert body["id"] == alert.key  # the same on every attempt and every replica
    assert body["url"] == "https://dash.example.com/workflows/a1b2c3d4"
    assert body["text"] == body["content"]  # Slack reads text, Discord content
    assert "a1b2c3d4 (issue #42) failed in build" in body["text"] and body["url"] in body["text"]
    assert alerts_for(wf("failed"), wf("failed", cost_usd=2.0), RULES) == []  # no new transition
    retried = alerts_for(wf("running", phase="test"), wf("failed", phase="test"), RULES)
    assert [a.key for a in retried] == ["a1b2c3d4:failed:test"]


def test_a_stall_is_named_by_its_last_write() -> None:
    [alert] = alerts_for(wf("running"), wf("stalled"), RULES)
    assert alert.key == "a1b2c3d4:stalled:2026-11-27T09:00:00+00:00"
    assert "stalled in build" in alert.body["text"]


def test_only_the_chosen_statuses_alert() -> None:
    assert alerts_for(wf("running"), wf("completed"), RULES) == []  # default: failed, stalled
    assert alerts_for(wf("running"), wf("error"), RULES) == []
    chosen = Rules(on=frozenset({"completed", "error"}))
    assert [a.event for a in alerts_for(wf("running"), wf("completed"), chosen)] == ["completed"]
    assert [a.event for a in alerts_for(wf("running"), wf("error"), chosen)] == ["error"]
    assert alerts_for(wf("running"), wf("failed"), chosen) == []


def test_cost_alerts_once_when_it_crosses_the_limit() -> None:
    rules = Rules(cost_usd=2.0)
    assert alerts_for(wf("running", cost_usd=1.0), wf("running", cost_usd=1.9), rules) == []
    [alert] = alerts_for(wf("running", cost_usd=1.9), wf("running", cost_usd=2.5), rules)
    assert (alert.key, alert.event) == ("a1b2c3d4:cost:2", "cost")
    assert "crossed $2" in alert.body["text"]
    assert alerts_for(wf("running", cost_usd=2.5), wf("running", cost_usd=3.0), rules) == []
    first = alerts_for(wf("running", cost_usd=None), wf("running", cost_usd=2.0), rules)
    assert [a.event for a in first] == ["cost"]
