"""A workflow's `now` and `tokens`: folded in a few times a second, kept across disk reads."""

from __future__ import annotations

from livewatch.hub.agent_activity import AgentActivity
from livewatch.hub.collection import Collection
from livewatch.hub.events import new_event
from livewatch.hub.records import workflow_key


def running(adw_id: str = "w1", status: str = "running") -> dict:
    return {"adw_id": adw_id, "status": status, "phase": "build"}


def test_events_mark_dirty_and_flush_applies_now_and_tokens_once() -> None:
    workflows = Collection("workflows", workflow_key)
    activity = AgentActivity(workflows)
    workflows.apply([running()])
    seq = workflows.seq
    activity.observe([
        new_event(adw_id="w1", agent="planner", kind="tool_use", tool="Read", summary="README.md",
                  ts=1000, tokens_in=100, tokens_out=10),
        new_event(adw_id="w1", agent="planner", kind="tool_use", tool="Edit", summary="app.py",
                  ts=2000, tokens_in=50, tokens_out=5),
    ])  # fmt: skip
    assert workflows.seq == seq  # nothing until the flush
    assert activity.flush() == 1
    record = workflows.get("w1")
    assert record is not None
    assert record["now"] == {
        "agent": "planner", "kind": "tool_use", "tool": "Edit", "summary": "app.py", "ts": 2000
    }  # fmt: skip
    assert record["tokens"] == {"in": 150, "out": 15}
    assert activity.flush() == 0  # nothing new: no change, no broadcast


def test_a_fresh_read_from_disk_keeps_the_activity() -> None:
    workflows = Collection("workflows", workflow_key)
    activity = AgentActivity(workflows)
    activity.seed_tokens([("w1", 7, 3)])
    workflows.apply([running()])
    assert workflows.get("w1")["tokens"] == {"in": 7, "out": 3}
    workflows.apply([{**running(), "phase": "test"}])  # the watcher re-read the folder
    assert workflows.get("w1")["tokens"] == {"in": 7, "out": 3}


def test_now_shows_only_while_running() -> None:
    workflows = Collection("workflows", workflow_key)
    activity = AgentActivity(workflows)
    workflows.apply([running(status="completed")])
    activity.observe([new_event(adw_id="w1", agent="a", kind="result", ts=5)])
    activity.flush()
    assert workflows.get("w1")["now"] is None
