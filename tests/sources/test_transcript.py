"""The stream-json parser: one Claude Code line in, the events a dashboard shows out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livewatch.hub.events import EVENT_FIELDS, SUMMARY_MAX, Event
from livewatch.security.text_masking import mask_deep, mask_text
from livewatch.sources.transcript import MEMORY, TranscriptParser

TS = 1_700_000_000_000
MODEL = "claude-sonnet-4-5-20250929"


def jsonl(obj: dict[str, Any]) -> str:
    return json.dumps(obj)


def parse(*lines: str | bytes, parser: TranscriptParser | None = None) -> list[Event]:
    parser = parser or TranscriptParser("adw1", "sdlc_planner")
    events: list[Event] = []
    for number, line in enumerate(lines):
        events += parser.parse(line, ts=TS, origin=f"file:adw1/sdlc_planner@{number * 1000}")
    return events


def assistant(*blocks: dict[str, Any], msg_id: str = "msg_1", **usage: int) -> str:
    message: dict[str, Any] = {"id": msg_id, "model": MODEL, "content": list(blocks)}
    if usage:
        message["usage"] = usage
    return jsonl({"type": "assistant", "message": message, "parent_tool_use_id": None})


def tool_use(name: str, tool_id: str = "toolu_1", **tool_input: Any) -> str:
    return assistant({"type": "tool_use", "id": tool_id, "name": name, "input": tool_input})


def tool_result(tool_id: str, content: Any, *, is_error: bool | None = None) -> str:
    block = {"type": "tool_result", "tool_use_id": tool_id, "content": content}
    if is_error is not None:
        block["is_error"] = is_error
    return jsonl({"type": "user", "message": {"role": "user", "content": [block]}})


def only(events: list[Event]) -> Event:
    assert len(events) == 1, events
    return events[0]


# --- line types -------------------------------------------------------------------------------


def test_init_names_the_model_and_counts_the_tools() -> None:
    line = jsonl(
        {"type": "system", "subtype": "init", "model": MODEL, "tools": ["Bash", "Read", "Task"]}
    )
    event = only(parse(line))
    assert event["kind"] == "init"
    assert event["summary"] == f"model {MODEL} · 3 tools"
    assert event["model"] == MODEL
    assert (event["source"], event["adw_id"], event["agent"]) == ("file", "adw1", "sdlc_planner")
    assert (event["ts"], event["origin"], event["is_error"]) == (
        TS,
        "file:adw1/sdlc_planner@0",
        False,
    )
    assert json.loads(event["payload"]) == json.loads(line)
    assert set(EVENT_FIELDS) - {"seq"} <= set(event)


@pytest.mark.parametrize(
    "line",
    [
        {"type": "system", "subtype": "hook_started", "hook_id": "h1", "hook_event": "Stop"},
        {"type": "system", "subtype": "status", "status": "compacting"},
        {"type": "system", "subtype": "compact_boundary"},
        {"type": "stream_event", "event": {"type": "content_block_delta"}},
        {"type": "rate_limit_event", "rate_limit_info": {}},
    ],
)
def test_other_system_subtypes_and_unknown_types_are_quietly_skipped(line: dict[str, Any]) -> None:
    assert parse(jsonl(line)) == []


def test_blank_lines_make_no_event() -> None:
    assert parse("", "   \r\n") == []


def test_text_becomes_a_message_summarised_by_its_first_line() -> None:
    event = only(parse(assistant({"type": "text", "text": "\nAll tests pass.\nDetails below"})))
    assert (event["kind"], event["summary"], event["model"]) == (
        "message",
        "All tests pass.",
        MODEL,
    )


def test_thinking_is_a_message_marked_as_thinking() -> None:
    events = parse(
        assistant(
            {"type": "thinking", "thinking": "Let me look at the tests.\nThen...", "signature": "x"}
        ),
        assistant({"type": "thinking", "thinking": "", "signature": "x"}),
    )
    assert [e["summary"] for e in events] == ["(thinking) Let me look at the tests.", "(thinking)"]
    assert {e["kind"] for e in events} == {"message"}


@pytest.mark.parametrize(
    ("name", "tool_input", "summary"),
    [
        ("Read", {"file_path": "/repo/app.py", "limit": 10}, "/repo/app.py"),
        ("Write", {"file_path": "/repo/new.py", "content": "x = 1"}, "/repo/new.py"),
        ("Edit", {"file_path": "/repo/a.py", "old_string": "a", "new_string": "b"}, "/repo/a.py"),
        ("MultiEdit", {"file_path": "/repo/b.py", "edits": []}, "/repo/b.py"),
        ("Bash", {"command": "go test ./...", "description": "Run the tests"}, "go test ./..."),
        ("Grep", {"pattern": "def main", "path": "src"}, "def main in src"),
        ("Glob", {"pattern": "**/*.py"}, "**/*.py"),
        ("WebFetch", {"url": "https://example.com", "prompt": "summarise"}, "https://example.com"),
        ("WebSearch", {"query": "claude code hooks"}, "claude code hooks"),
        ("Task", {"description": "Review the plan", "prompt": "..."}, "Review the plan"),
        ("Agent", {"description": "Write tests", "subagent_type": "tester"}, "Write tests"),
        ("NotebookEdit", {"notebook_path": "/nb.ipynb", "new_source": "1"}, "/nb.ipynb"),
        ("LS", {"path": "/repo"}, "/repo"),
        ("mcp__github__get_issue", {"owner": "o", "url": "https://gh/1"}, "https://gh/1"),
        ("mcp__db__query", {"table": "users", "limit": 5}, '{"table":"users","limit":5}'),
    ],
)
def test_a_tool_call_is_summarised_by_its_main_argument(
    name: str, tool_input: dict[str, Any], summary: str
) -> None:
    event = only(parse(tool_use(name, **tool_input)))
    assert (event["kind"], event["tool"], event["summary"]) == ("tool_use", name, summary)


def test_todo_write_counts_the_todos_and_names_the_one_in_progress() -> None:
    todos = [
        {"content": "Plan", "status": "completed", "activeForm": "Planning"},
        {"content": "Build", "status": "in_progress", "activeForm": "Building"},
        {"content": "Ship", "status": "pending", "activeForm": "Shipping"},
    ]
    assert only(parse(tool_use("TodoWrite", todos=todos)))["summary"] == "3 todos · Building"


def test_a_tool_result_names_the_tool_that_asked_for_it() -> None:
    events = parse(
        tool_use("Bash", "toolu_1", command="go test ./..."),
        tool_use("Read", "toolu_2", file_path="/repo/missing.py"),
        tool_result("toolu_1", "ok  \tdemo\t0.012s\nPASS", is_error=False),
        tool_result("toolu_2", [{"type": "text", "text": "File does not exist."}], is_error=True),
        tool_result("toolu_unknown", None),
    )
    results = [(e["kind"], e["tool"], e["is_error"], e["summary"]) for e in events[2:]]
    assert results == [
        ("tool_result", "Bash", False, "ok: ok  \tdemo\t0.012s"),
        ("tool_result", "Read", True, "error: File does not exist."),
        ("tool_result", None, False, "ok"),
    ]


def test_a_user_prompt_is_a_message() -> None:
    line = jsonl(
        {"type": "user", "message": {"role": "user", "content": "/implement issue 42\n..."}}
    )
    event = only(parse(line))
    assert (event["kind"], event["summary"]) == ("message", "(user) /implement issue 42")


def test_the_result_line_sums_up_the_run() -> None:
    success = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "duration_ms": 45_213,
        "num_turns": 12,
        "total_cost_usd": 0.0379,
        "usage": {"input_tokens": 5000, "output_tokens": 500},
    }
    failure = {
        "type": "result",
        "subtype": "error_max_turns",
        "is_error": True,
        "duration_ms": 60_000,
        "num_turns": 1,
        "total_cost_usd": 0.21,
    }
    ok, failed = parse(jsonl(success), jsonl(failure))
    assert (ok["kind"], ok["summary"], ok["cost_usd"], ok["is_error"]) == (
        "result",
        "success · 12 turns · 45.2 s · $0.0379",
        0.0379,
        False,
    )
    assert (failed["summary"], failed["is_error"]) == (
        "error_max_turns · 1 turn · 60.0 s · $0.2100",
        True,
    )
    # The result's usage is the run's total: counting it would count every token twice.
    assert (ok["tokens_in"], ok["tokens_out"]) == (None, None)


# --- tokens -----------------------------------------------------------------------------------


def test_tokens_of_a_message_split_over_lines_are_counted_once() -> None:
    # Claude Code writes one line per content block and repeats the message's usage on each;
    # output_tokens is only final on the message's last line.
    first = {
        "input_tokens": 4,
        "cache_creation_input_tokens": 5321,
        "cache_read_input_tokens": 11000,
    }
    second = {"input_tokens": 6, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 16325}
    lines = [
        assistant(
            {"type": "thinking", "thinking": "hmm"}, msg_id="msg_A", **first, output_tokens=1
        ),
        assistant(
            {"type": "text", "text": "Running the tests"}, msg_id="msg_A", **first, output_tokens=1
        ),
        assistant(
            {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "make"}},
            msg_id="msg_A",
            **first,
            output_tokens=87,
        ),
        tool_result("toolu_1", "done"),
        assistant({"type": "text", "text": "Done."}, msg_id="msg_B", **second, output_tokens=12),
        jsonl({"type": "result", "subtype": "success", "usage": {"input_tokens": 999_999}}),
    ]
    events = parse(*lines)
    assert sum(e["tokens_in"] or 0 for e in events) == (4 + 5321 + 11000) + (6 + 16325)
    assert sum(e["tokens_out"] or 0 for e in events) == 87 + 12
    assert [e["tokens_out"] for e in events] == [1, 0, 86, None, 12, None]


def test_a_line_with_several_blocks_puts_its_tokens_on_its_first_event_only() -> None:
    line = assistant(
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_9", "name": "Glob", "input": {"pattern": "*.md"}},
        input_tokens=10,
        output_tokens=20,
    )
    first, second = parse(line)
    assert (first["tokens_in"], first["tokens_out"]) == (10, 20)
    assert (second["tokens_in"], second["tokens_out"]) == (None, None)
    # Each event of the line is stored on its own: the origins differ.
    assert (first["origin"], second["origin"]) == (
        "file:adw1/sdlc_planner@0",
        "file:adw1/sdlc_planner@0#1",
    )


def test_a_usage_that_shrinks_never_counts_negative_tokens() -> None:
    events = parse(
        assistant({"type": "text", "text": "a"}, input_tokens=100, output_tokens=50),
        assistant({"type": "text", "text": "b"}, input_tokens=90, output_tokens=10),
    )
    assert [(e["tokens_in"], e["tokens_out"]) for e in events] == [(100, 50), (0, 0)]


def test_only_the_last_thousand_ids_are_remembered() -> None:
    parser = TranscriptParser("adw1", "a")
    for number in range(MEMORY + 1):
        parse(tool_use("Bash", f"toolu_{number}", command="true"), parser=parser)
    assert only(parse(tool_result(f"toolu_{MEMORY}", "ok"), parser=parser))["tool"] == "Bash"
    assert only(parse(tool_result("toolu_1", "ok"), parser=parser))["tool"] == "Bash"
    assert only(parse(tool_result("toolu_0", "ok"), parser=parser))["tool"] is None


# --- bad input --------------------------------------------------------------------------------


def test_a_line_that_is_not_json_is_one_error_event() -> None:
    event = only(parse('{"type": "assistant", "mess'))
    assert event["kind"] == "error" and event["is_error"] is True
    assert event["summary"].startswith("line 1 is not JSON (")
    assert '{"type": "assistant", "mess' in event["summary"]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("[1, 2, 3]", "is not a JSON object"),
        ('"just a string"', "is not a JSON object"),
        ('{"no_type": true}', "has no type"),
        ('{"type": "assistant"}', "assistant line without content list"),
        ('{"type": "assistant", "message": {"content": "text"}}', "without content list"),
        ('{"type": "assistant", "message": []}', "without content list"),
        ('{"type": "user", "message": {"content": 5}}', "user line without content"),
    ],
)
def test_json_of_an_unknown_shape_is_one_error_event(line: str, says: str) -> None:
    event = only(parse(line))
    assert event["kind"] == "error" and event["is_error"] is True
    assert says in event["summary"]


def test_odd_values_inside_known_lines_are_tolerated() -> None:
    odd_blocks: list[Any] = ["not a block", {"type": "image"}, {"type": "text", "text": None}]
    events = parse(
        assistant(*odd_blocks),
        jsonl({"type": "result", "num_turns": "many", "total_cost_usd": float("inf")}),
    )
    assert [(e["kind"], e["summary"]) for e in events] == [("message", ""), ("result", "result")]
    assert events[1]["is_error"] is True and events[1]["cost_usd"] is None


def test_bytes_that_are_not_utf8_are_replaced_and_still_parsed() -> None:
    line = assistant({"type": "text", "text": "caf_ ok"}).encode().replace(b"caf_", b"caf\xff")
    event = only(parse(line))
    assert (event["kind"], event["summary"]) == ("message", "caf\ufffd ok")


def test_lone_surrogates_from_json_escapes_become_storable_text() -> None:
    event = only(parse(assistant({"type": "text", "text": "a\ud800b"})))
    assert event["summary"].encode("utf-8") == b"a?b"


def test_summaries_are_one_line_of_at_most_200_characters() -> None:
    event = only(parse(tool_use("Bash", command="echo " + "x" * 5000 + "\nsecond line")))
    assert len(event["summary"]) == SUMMARY_MAX
    assert "\n" not in event["summary"] and event["summary"].endswith("…")


# Keys the parser looks at, so generated values reach its deeper branches.
PARSED_KEYS = ("type", "subtype", "message", "content", "id", "usage", "text", "name", "input")
KEYS = st.sampled_from((*PARSED_KEYS, "tool_use_id", "is_error", "output_tokens", "todos"))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_no_json_value_makes_the_parser_raise(value: Any) -> None:
    for line in (
        value,
        {"type": "assistant", "message": value},
        {"type": "user", "message": value},
    ):
        for event in parse(json.dumps(line)):
            assert isinstance(event["summary"], str) and len(event["summary"]) <= SUMMARY_MAX


# --- secrets ----------------------------------------------------------------------------------


def test_secrets_in_a_command_are_masked_in_the_summary_and_where_the_payload_is_served() -> None:
    command = (
        "curl -H 'Authorization: Bearer abc123' https://api.example.com && API_KEY=hunter2 make"
    )
    event = only(parse(tool_use("Bash", command=command)))
    assert event["summary"] == (
        "curl -H 'Authorization: Bearer ********' https://api.example.com && API_KEY=******** make"
    )
    # The payload is the line as written (the file holds it so too); it is masked when served.
    served = mask_deep(json.loads(event["payload"]))
    assert served["message"]["content"][0]["input"]["command"] == event["summary"]
    for secret in ("abc123", "hunter2"):
        assert secret not in event["summary"] and secret not in json.dumps(served)


def test_an_api_key_in_a_tool_output_is_masked() -> None:
    key = "sk-ant-api03-" + "Ab3" * 20
    events = parse(tool_use("Read", file_path=".env"), tool_result("toolu_1", f"ANTHROPIC={key}\n"))
    assert events[1]["summary"] == "ok: ANTHROPIC=********"
    assert key not in json.dumps(mask_deep(json.loads(events[1]["payload"])))


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("curl -H 'Authorization: Bearer abc123' x", "curl -H 'Authorization: Bearer ********' x"),
        ('-H "authorization: Basic dXNlcjpw"', '-H "authorization: Basic ********"'),
        ("key sk-ant-api03-abcdefghijklmnopqrstuv0123 end", "key ******** end"),
        ("sk-proj-abcdefghijklmnopqrstuvwx", "********"),
        ("push with ghp_abcdefghijklmnopqrstuvwxyz0123456789", "push with ********"),
        ("github_pat_11ABCDEFG0123456789_abcdefghij", "********"),
        ("id AKIAIOSFODNN7EXAMPLE.", "id ********."),
        ("slack xoxb-1234567890-abcdefghij", "slack ********"),
        ("API_KEY=abc123 python run.py", "API_KEY=******** python run.py"),
        ("export GITHUB_TOKEN='ghp_x y'", "export GITHUB_TOKEN='********'"),
        ('{"api_key": "abc def", "n": 1}', '{"api_key": "********", "n": 1}'),
        ('{\\"client_secret\\":\\"abc\\"}', '{\\"client_secret\\":\\"********\\"}'),
        ("https://host/cb?code=1&token=abc&x=2", "https://host/cb?code=1&token=********&x=2"),
        ("apikey: abc", "apikey: ********"),
        ("X-Api-Key: abc", "X-Api-Key: ********"),
        ("password=hunter2; next", "password=********; next"),
        ("postgres://app:pa55w0rd@db:5432/x", "postgres://app:********@db:5432/x"),
    ],
)
def test_mask_text_hides_secrets_and_keeps_their_names(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        '"usage":{"input_tokens":4,"output_tokens":8},"apiKeySource":"none"',
        '{"token": null, "password": false}',
        "ask-me task-runner risk-assessment-framework-v2",
        "akiaiosfodnn7example is lowercase",
        "no secrets here",
    ],
)
def test_mask_text_leaves_ordinary_text_alone(text: str) -> None:
    assert mask_text(text) == text
