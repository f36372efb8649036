"""Stream-json lines as Claude Code writes them: the builders, whole runs, and the writer."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from livewatch.demo import stream
from livewatch.demo.stream import Conversation
from livewatch.demo.tools import Task
from livewatch.demo.writer import AgentsWriter

AGENTS = ("sdlc_planner", "sdlc_implementor", "test_runner", "reviewer", "documenter")
USAGE_KEYS = {
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
}
TASK = Task(adw_id="feed1234", issue_number=7, title="Add CSV export to the reports page")


def roundtrip(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each line as the CLI prints it (one physical line), read back."""
    out = []
    for line in lines:
        text = stream.dumps(line)
        assert "\n" not in text
        out.append(json.loads(text))
    return out


def assert_assistant_shape(line: dict[str, Any]) -> None:
    assert line["type"] == "assistant"
    message = line["message"]
    assert message["id"].startswith("msg_01") and message["type"] == "message"
    assert message["role"] == "assistant" and message["model"]
    assert len(message["content"]) == 1  # one content block per line
    assert set(message["usage"]) >= USAGE_KEYS
    assert line["parent_tool_use_id"] is None
    assert line["session_id"] and line["uuid"]


# --- the builders ---------------------------------------------------------------------------


def test_the_builders_make_the_cli_shapes() -> None:
    tokens = stream.usage(4, 120, 5321, 11_000)
    init = stream.init("s-1", "claude-sonnet-4-5-20250929", "/repo", ["Bash", "Read"], uuid="u0")
    text = stream.assistant_text("msg_01A", "Looking.", tokens, session_id="s-1", uuid="u1")
    call = stream.tool_use(
        "msg_01A", "toolu_01", "Bash", {"command": "ls"}, tokens, session_id="s-1"
    )
    answer = stream.tool_result("toolu_01", "Exit code 2\nls: nope", True, session_id="s-1")
    end = stream.result(session_id="s-1", num_turns=1, total_cost_usd=0.02, duration_ms=900)

    assert (init["type"], init["subtype"], init["cwd"], init["tools"]) == (
        "system",
        "init",
        "/repo",
        ["Bash", "Read"],
    )
    assert (init["session_id"], init["model"], init["uuid"]) == (
        "s-1",
        "claude-sonnet-4-5-20250929",
        "u0",
    )
    for line in (text, call):
        assert_assistant_shape(line)
        assert line["message"]["usage"] == tokens
    assert text["message"]["content"] == [{"type": "text", "text": "Looking."}]
    assert call["message"]["content"] == [
        {"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "ls"}}
    ]
    assert answer["type"] == "user" and answer["message"]["role"] == "user"
    assert answer["message"]["content"] == [
        {
            "tool_use_id": "toolu_01",
            "type": "tool_result",
            "content": "Exit code 2\nls: nope",
            "is_error": True,
        }
    ]
    assert answer["parent_tool_use_id"] is None and answer["uuid"]
    assert end["type"] == "result" and end["subtype"] == "success" and end["is_error"] is False
    for key in ("duration_ms", "duration_api_ms", "num_turns", "session_id", "total_cost_usd"):
        assert key in end
    failed = stream.result(
        session_id="s", num_turns=3, total_cost_usd=0.1, duration_ms=1, is_error=True
    )
    assert (failed["subtype"], failed["is_error"]) == ("error_during_execution", True)
    assert roundtrip([init, text, call, answer, end]) == [init, text, call, answer, end]


def test_prices_follow_the_model_family() -> None:
    tokens = stream.usage(1_000_000, 0)
    assert stream.cost_of("claude-opus-4-1-20250805", tokens) == 15.0
    assert stream.cost_of("claude-sonnet-4-5-20250929", tokens) == 3.0
    assert stream.cost_of("some-new-model", tokens) == 3.0


# --- whole runs -----------------------------------------------------------------------------


@pytest.mark.parametrize("agent", AGENTS)
def test_a_conversation_is_a_well_formed_run(agent: str) -> None:
    lines = roundtrip(Conversation(agent, task=TASK, seed=3).lines())

    assert lines[0]["type"] == "system" and lines[0]["subtype"] == "init"
    assert lines[-1]["type"] == "result" and lines[-1]["is_error"] is False
    assert [line["type"] for line in lines].count("result") == 1
    session = lines[0]["session_id"]
    assert all(line["session_id"] == session for line in lines)
    assert len({line["uuid"] for line in lines}) == len(lines)

    by_message: dict[str, list[dict[str, Any]]] = defaultdict(list)
    order: list[str] = []
    asked: list[str] = []
    for line in lines:
        if line["type"] == "assistant":
            assert_assistant_shape(line)
            msg_id = line["message"]["id"]
            if msg_id not in by_message:
                order.append(msg_id)
            assert msg_id == order[-1], "a message's lines come together"
            by_message[msg_id].append(line)
            block = line["message"]["content"][0]
            if block["type"] == "tool_use":
                asked.append(block["id"])
        elif line["type"] == "user":
            (block,) = line["message"]["content"]
            assert block["type"] == "tool_result" and isinstance(block["is_error"], bool)
            assert block["tool_use_id"] == asked.pop(0), "results answer calls in order"
    assert asked == []

    totals = dict.fromkeys(USAGE_KEYS, 0)
    for group in by_message.values():
        usages = [line["message"]["usage"] for line in group]
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
            assert len({u[key] for u in usages}) == 1, f"{key} repeats on every block line"
        final = usages[-1]["output_tokens"]
        assert all(u["output_tokens"] < final for u in usages[:-1])  # final only on the last
        for key in USAGE_KEYS:
            totals[key] += usages[-1][key]
    end = lines[-1]
    assert end["num_turns"] == len(by_message)
    assert {key: end["usage"][key] for key in USAGE_KEYS} == totals
    assert end["result"] == by_message[order[-1]][-1]["message"]["content"][0]["text"]
    assert end["total_cost_usd"] > 0 and end["duration_ms"] >= end["duration_api_ms"] > 0


def test_runs_show_what_each_agent_does() -> None:
    def calls(agent: str, **options: Any) -> list[tuple[str, dict[str, Any]]]:
        found = []
        for line in Conversation(agent, task=TASK, seed=1, **options).lines():
            if line["type"] == "assistant":
                block = line["message"]["content"][0]
                if block["type"] == "tool_use":
                    found.append((block["name"], block["input"]))
        return found

    planner = calls("sdlc_planner")
    assert ("Read", {"file_path": TASK.path("README.md")}) in planner
    assert any(
        name == "Write" and args["file_path"] == TASK.path(TASK.plan) for name, args in planner
    )
    assert any(name == "TodoWrite" for name, _ in planner)
    implementor = calls("sdlc_implementor", turns=25)
    assert {"Read", "Edit", "Write", "Bash"} <= {name for name, _ in implementor}
    commands = [args["command"] for name, args in calls("test_runner") if name == "Bash"]
    assert any("pytest -x" in c for c in commands) and any("bun test" in c for c in commands)


def test_the_test_runner_fails_then_fixes() -> None:
    lines = Conversation("test_runner", task=TASK, seed=5).lines()
    errors = [
        line["message"]["content"][0]
        for line in lines
        if line["type"] == "user" and line["message"]["content"][0]["is_error"]
    ]
    assert errors and "FAILED" in errors[0]["content"]
    assert lines[-1]["is_error"] is False


def test_a_conversation_is_deterministic_for_a_seed() -> None:
    one = Conversation("sdlc_implementor", task=TASK, seed=9).lines()
    assert Conversation("sdlc_implementor", task=TASK, seed=9).lines() == one
    assert Conversation("sdlc_implementor", task=TASK, seed=10).lines() != one


def test_turns_and_overrides_set_the_result() -> None:
    talk = Conversation(
        "test_runner",
        task=TASK,
        turns=38,
        fail=True,
        cost_usd=1.9034,
        duration_ms=412_877,
        result_text="3 tests still fail",
    )
    end = talk.lines()[-1]
    assert (end["num_turns"], end["total_cost_usd"], end["duration_ms"]) == (38, 1.9034, 412_877)
    assert (end["is_error"], end["subtype"], end["result"]) == (
        True,
        "error_during_execution",
        "3 tests still fail",
    )


def test_a_run_handed_out_bit_by_bit_and_cut_short() -> None:
    talk = Conversation("sdlc_planner", task=TASK, seed=2, turns=12)
    first = talk.take(1)
    assert [line["type"] for line in first] == ["system"]
    body = first + talk.take(4)
    assert len(body) == 5 and not talk.done

    rest = talk.finish()
    assert talk.finish() == [] and talk.take(3) == []  # once closed, closed
    run = roundtrip(body + rest)
    end = run[-1]
    assert end["type"] == "result" and end["is_error"] is False
    messages = {line["message"]["id"] for line in run if line["type"] == "assistant"}
    assert end["num_turns"] == len(messages) < 12
    # Cut short, the planner still writes its plan before it says so.
    writes = [
        line["message"]["content"][0]["input"]["file_path"]
        for line in run
        if line["type"] == "assistant" and line["message"]["content"][0].get("name") == "Write"
    ]
    assert writes == [TASK.path(TASK.plan)]


def test_a_run_can_fail_midway() -> None:
    talk = Conversation("sdlc_implementor", task=TASK, seed=2)
    talk.take(6)
    end = talk.finish(fail=True)[-1]
    assert (end["type"], end["is_error"], end["subtype"]) == (
        "result",
        True,
        "error_during_execution",
    )
    assert end["result"] == talk.failure_text


def test_resuming_carries_on_a_run_on_disk() -> None:
    original = Conversation("sdlc_implementor", task=TASK, seed=4, turns=20)
    on_disk = original.partial(6)
    assert on_disk[-1]["type"] == "user" and all(line["type"] != "result" for line in on_disk)

    talk = Conversation.resuming("sdlc_implementor", on_disk, task=TASK, seed=4, turns=20)
    more = talk.take(3)
    assert all(line["type"] != "system" for line in more)
    assert more == original.take(3)  # same seed: the very next lines
    end = talk.finish()[-1]
    assert end["session_id"] == on_disk[0]["session_id"]
    messages = {line["message"]["id"] for line in on_disk + more if line["type"] == "assistant"}
    assert end["num_turns"] >= len(messages) > 6

    done = Conversation("reviewer", task=TASK).lines()
    finished = Conversation.resuming("reviewer", done, task=TASK)
    assert finished.finished and finished.take(5) == [] and finished.finish() == []


def test_hazards_put_a_secret_and_markup_in_the_run() -> None:
    text = "\n".join(map(stream.dumps, Conversation("reviewer", task=TASK, hazards=True).lines()))
    assert "Authorization: Bearer sk-ant-demo-0000000000000000" in text
    assert "<script>alert(1)</script>" in text
    plain = "\n".join(map(stream.dumps, Conversation("reviewer", task=TASK).lines()))
    assert "sk-ant-" not in plain and "<script>" not in plain


# --- the writer -----------------------------------------------------------------------------


def test_stream_appends_whole_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    agents = AgentsWriter(tmp_path)
    writes: list[bytes] = []
    real_write = os.write

    def spy(fd: int, data: bytes) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr("livewatch.demo.writer.os.write", spy)
    talk = Conversation("documenter", task=TASK)
    path = agents.stream("feed1234", "documenter", talk.take(3))
    assert path == tmp_path / "feed1234" / "documenter" / "raw_output.jsonl"
    assert agents.stream("feed1234", "documenter", ['{"type":"x"}\n', talk.take(1)[0]]) == path

    lines = path.read_text().splitlines(keepends=True)
    assert len(lines) == 5 and all(line.endswith("\n") for line in lines)
    assert [w.decode() for w in writes] == lines  # one write() per line, each a whole line
    assert json.loads(lines[3]) == {"type": "x"}
    assert all(json.loads(line) for line in lines)

    agents.result("feed1234", "documenter", cost_usd=0.5)  # the old closing line still works
    assert json.loads(path.read_text().splitlines()[-1])["total_cost_usd"] == 0.5
