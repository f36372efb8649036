"""Hook bodies (as disler's send_event.py posts them) into agent events, and onto workflows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from livewatch.hub.collection import Collection
from livewatch.hub.events import SUMMARY_MAX
from livewatch.sources.hooks import (
    HookError,
    WorkflowLinker,
    event_ts,
    main_argument,
    read_hook,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hooks"
HOOK_TYPES = sorted(p.stem for p in FIXTURES.glob("*.json"))
NOW = 1_795_760_100_000  # a fixed arrival time, 100 s after the fixtures were recorded


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def body_of(name: str, **changes: Any) -> dict[str, Any]:
    return {**json.loads(fixture(name)), **changes}


def test_there_is_a_recorded_body_for_every_hook_type() -> None:
    expected = [
        *("PreToolUse", "PostToolUse", "PostToolUseFailure", "Notification", "Stop"),
        *("SubagentStop", "SubagentStart", "UserPromptSubmit", "SessionStart"),
        *("SessionEnd", "PreCompact", "PermissionRequest"),
    ]
    assert sorted(expected) == HOOK_TYPES
    for name in HOOK_TYPES:
        body = json.loads(fixture(name))
        assert body["hook_event_type"] == name == body["payload"]["hook_event_name"]


@pytest.mark.parametrize("name", HOOK_TYPES)
def test_every_recorded_body_maps_onto_the_event_model(name: str) -> None:
    raw = fixture(name)
    event, body = read_hook(raw, received_ms=NOW)
    assert (event["source"], event["kind"]) == ("hook", "hook")
    assert event["app"] == "cc-hook-multi-agent-obvs"
    assert event["agent"] == body["session_id"]
    assert event["hook_event_type"] == name
    assert event["tool"] == body.get("tool_name")
    assert event["model"] == (body["model_name"] or None)
    assert event["ts"] == body["timestamp"]  # sane: the sender's clock wins
    assert event["payload"] == raw.decode()  # the whole body, as received (chat included)
    assert event["adw_id"] is None  # linking is the linker's job
    assert event.get("seq") is None  # numbering is the hub's
    assert len(event["summary"]) <= SUMMARY_MAX and "\n" not in event["summary"]


@pytest.mark.parametrize(
    ("name", "summary"),
    [
        ("PreToolUse", "curl -s -H 'Authorization: Bearer ********' https://api.example.com"),
        ("PostToolUse", "env"),
        ("PostToolUseFailure", "Command failed with exit code 1:"),
        ("PermissionRequest", "/home/dev/projects/shop/app/export.py"),
        ("UserPromptSubmit", "Add CSV export to the orders page"),
        ("Notification", "Claude needs your permission to use Bash"),
        ("SessionStart", "startup"),
        ("SessionEnd", "prompt_input_exit"),
        ("SubagentStart", "code-reviewer"),
        ("SubagentStop", "code-reviewer"),
        ("Stop", "CSV export is in place and the tests pass."),
        ("PreCompact", "auto"),
    ],
)
def test_the_summary_is_the_main_argument_error_prompt_or_message(name: str, summary: str) -> None:
    event, _ = read_hook(fixture(name), received_ms=NOW)
    assert event["summary"].startswith(summary)


def test_a_failure_is_an_error_and_other_hooks_are_not() -> None:
    assert read_hook(fixture("PostToolUseFailure"))[0]["is_error"] is True
    assert read_hook(fixture("PostToolUse"))[0]["is_error"] is False


def test_secrets_are_masked_before_the_summary_is_cut() -> None:
    secret = "sk-ant-api03-" + "q" * 40
    command = "x" * 180 + f" curl -H 'Authorization: Bearer {secret}'"
    body = body_of("PreToolUse", payload={"tool_input": {"command": command}})
    event, _ = read_hook(json.dumps(body))
    assert len(event["summary"]) <= SUMMARY_MAX
    assert "qqqq" not in event["summary"]


def test_the_senders_summary_is_used_only_when_nothing_better_is_known() -> None:
    body = body_of("SessionEnd", payload={"session_id": "s"}, summary="The user left")
    del body["reason"]
    event, _ = read_hook(json.dumps(body))
    assert event["summary"] == "The user left"


@pytest.mark.parametrize(
    ("tool_input", "expected"),
    [
        ({"command": "ls -la", "description": "List"}, "ls -la"),
        ({"file_path": "/a/b.py", "content": "x"}, "/a/b.py"),
        ({"pattern": "TODO", "path": "src"}, "TODO"),
        ({"url": "https://x.test", "prompt": "read"}, "https://x.test"),
        ({"query": "uvicorn access log"}, "uvicorn access log"),
        (
            {"description": "Review", "prompt": "...", "subagent_type": "reviewer"},
            "reviewer: Review",
        ),
        ({"todos": [{"content": "a"}, {"content": "b"}]}, "2 todos"),
        ({"server": "x", "n": 1}, '{"server":"x","n":1}'),
        ({}, ""),
        (None, ""),
    ],
)
def test_main_argument_of_each_tool(tool_input: object, expected: str) -> None:
    assert main_argument(tool_input) == expected


@pytest.mark.parametrize("missing", ["source_app", "session_id", "hook_event_type"])
@pytest.mark.parametrize("how", ["absent", "empty", "null"])
def test_a_missing_required_field_is_named(missing: str, how: str) -> None:
    body = body_of("PreToolUse")
    if how == "absent":
        del body[missing]
    else:
        body[missing] = "" if how == "empty" else None
    with pytest.raises(HookError) as caught:
        read_hook(json.dumps(body))
    assert caught.value.field == missing
    assert missing in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (b"\xff\xfe{}", "body"),
        (b"", "body"),
        (json.dumps({**json.loads(fixture("Stop")), "source_app": 42}).encode(), "source_app"),
        (
            json.dumps({**json.loads(fixture("Stop")), "session_id": "s" * 201}).encode(),
            "session_id",
        ),
        (json.dumps({**json.loads(fixture("Stop")), "payload": [1]}).encode(), "payload"),
    ],
)
def test_bad_bodies_name_what_is_wrong(raw: bytes, field: str) -> None:
    with pytest.raises(HookError) as caught:
        read_hook(raw)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (NOW - 5000, NOW - 5000),
        (float(NOW - 5000), NOW - 5000),
        (NOW + 3_600_000, NOW + 3_600_000),  # a sender's clock an hour fast is still its clock
        (NOW // 1000, NOW),  # seconds, not ms
        (NOW + 10 * 86_400_000, NOW),  # days in the future
        (NOW - 400 * 86_400_000, NOW),  # over a year old
        (None, NOW),
        ("1795760000000", NOW),
        (True, NOW),
        (float("nan"), NOW),
        (float("inf"), NOW),
    ],
)
def test_the_timestamp_is_the_senders_when_sane(timestamp: object, expected: int) -> None:
    assert event_ts(timestamp, NOW) == expected


# -- linking to workflows -------------------------------------------------------------------


def workflows(*records: dict[str, Any]) -> Collection:
    collection = Collection("workflows", key=lambda r: str(r["adw_id"]))
    collection.apply(list(records))
    return collection


def hook_from(cwd: str | None, source_app: str = "cc-hook-multi-agent-obvs") -> bytes:
    body = body_of("PreToolUse", source_app=source_app)
    body["payload"]["cwd"] = cwd
    return json.dumps(body).encode()


def link(linker: WorkflowLinker, raw: bytes) -> str | None:
    event, body = read_hook(raw)
    return linker.link(event, body)["adw_id"]


def test_a_hook_links_to_the_workflow_whose_worktree_holds_its_cwd() -> None:
    linker = WorkflowLinker(
        workflows(
            {"adw_id": "a1b2c3d4", "worktree_path": "/srv/app/trees/a1b2c3d4"},
            {"adw_id": "e5f6a7b8", "worktree_path": "/srv/app/trees/e5f6a7b8/"},
            {"adw_id": "00000000", "worktree_path": None},
        )
    )
    assert link(linker, hook_from("/srv/app/trees/a1b2c3d4")) == "a1b2c3d4"
    assert link(linker, hook_from("/srv/app/trees/a1b2c3d4/src/api")) == "a1b2c3d4"
    assert link(linker, hook_from("/srv/app/trees/e5f6a7b8/x/../y")) == "e5f6a7b8"
    assert link(linker, hook_from("/srv/app/trees/a1b2c3d4-other")) is None  # a prefix only
    assert link(linker, hook_from("/srv/app/trees")) is None
    assert link(linker, hook_from("relative/path")) is None
    assert link(linker, hook_from(None)) is None


def test_the_deepest_worktree_wins() -> None:
    linker = WorkflowLinker(
        workflows(
            {"adw_id": "outer000", "worktree_path": "/repo"},
            {"adw_id": "inner000", "worktree_path": "/repo/trees/inner000"},
        )
    )
    assert link(linker, hook_from("/repo/trees/inner000/app")) == "inner000"
    assert link(linker, hook_from("/repo/docs")) == "outer000"


def test_a_source_app_equal_to_an_adw_id_links_whatever_the_cwd() -> None:
    linker = WorkflowLinker(workflows({"adw_id": "a1b2c3d4", "worktree_path": "/w/a1b2c3d4"}))
    assert link(linker, hook_from("/elsewhere", source_app="a1b2c3d4")) == "a1b2c3d4"
    assert link(linker, hook_from("/elsewhere", source_app="b1b2c3d4")) is None


def test_the_index_follows_the_collection_and_is_rebuilt_only_when_it_changes() -> None:
    collection = workflows({"adw_id": "a1b2c3d4", "worktree_path": "/w/one"})
    linker = WorkflowLinker(collection)
    assert link(linker, hook_from("/w/one")) == "a1b2c3d4"
    index = linker._index()
    assert linker._index() is index  # same seq: not rebuilt
    collection.apply([{"adw_id": "a1b2c3d4", "worktree_path": "/w/two"}])
    assert link(linker, hook_from("/w/one")) is None
    assert link(linker, hook_from("/w/two")) == "a1b2c3d4"
    assert linker._index() is not index
