"""Event filters: exact fields, a case-blind search, and a stable key to share work by."""

from __future__ import annotations

from livewatch.hub.event_filter import EventFilter

EDIT = {"adw_id": "w1", "agent": "sdlc_implementor", "kind": "tool_use", "tool": "Edit",
        "summary": "app/Server.py", "app": None}  # fmt: skip


def test_from_query_takes_known_fields_and_caps_their_length() -> None:
    matching = EventFilter.from_query({"workflow": "w1", "kind": "", "junk": "x", "q": "a" * 500})
    assert matching.workflow == "w1"
    assert matching.kind is None
    assert matching.q is not None and len(matching.q) == 200


def test_matches_exact_fields_and_searches_summary_tool_and_agent() -> None:
    assert EventFilter().matches(EDIT)
    assert EventFilter(workflow="w1", tool="Edit").matches(EDIT)
    assert not EventFilter(workflow="w2").matches(EDIT)
    assert EventFilter(q="server.PY").matches(EDIT)
    assert EventFilter(q="implementor").matches(EDIT)
    assert not EventFilter(q="pytest").matches(EDIT)


def test_equal_filters_share_a_key() -> None:
    assert EventFilter(workflow="w1", kind="tool_use").key() == "workflow=w1&kind=tool_use"
    assert EventFilter().is_empty and EventFilter().key() == ""
    assert EventFilter(agent="a") == EventFilter.from_query({"agent": "a"})
