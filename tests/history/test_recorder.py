"""The recorder's folding: hub records and result events in, history rows out (pure)."""

from __future__ import annotations

import json
from typing import Any

from livewatch.history.recorder import RunRecorder, agent_row, fold_record
from livewatch.hub.collection import Change
from livewatch.hub.events import new_event


def record(phase: str = "plan", status: str = "running", **fields: Any) -> dict[str, Any]:
    return {"adw_id": "w1", "phase": phase, "status": status, "issue_class": "/bug"} | fields


class Rows:
    def __init__(self) -> None:
        self.tables: dict[str, list[dict[str, Any]]] = {}

    def submit(self, table: str, rows: list[dict[str, Any]]) -> None:
        self.tables.setdefault(table, []).extend(rows)


def test_a_new_phase_starts_now_and_ends_the_one_before() -> None:
    run, phases = fold_record(("plan", "running"), record("build"), 5000)
    assert run["outcome"] == "running" and run["ended_ms"] is None
    assert phases == [
        {"adw_id": "w1", "phase": "plan", "started_ms": 5000, "ended_ms": 5000},
        {"adw_id": "w1", "phase": "build", "started_ms": 5000, "ended_ms": None},
    ]


def test_a_run_that_ends_ends_its_phase_and_a_stalled_one_stays_open() -> None:
    for status in ("completed", "failed"):
        run, phases = fold_record(("ship", "running"), record("ship", status), 9000)
        assert (run["outcome"], run["ended_ms"]) == (status, 9000)
        assert phases == [{"adw_id": "w1", "phase": "ship", "started_ms": 9000, "ended_ms": 9000}]
    # Stalled is the run's outcome for now, but its next write resumes it: nothing ends.
    run, phases = fold_record(("ship", "running"), record("ship", "stalled"), 9000)
    assert (run["outcome"], run["ended_ms"], phases) == ("stalled", None, [])
    # Idle is not an outcome: the run is still under way.
    assert fold_record(None, record(status="idle"), 1)[0]["outcome"] == "running"


def test_first_sight_after_a_restart_never_moves_a_stored_end() -> None:
    _, phases = fold_record(None, record("ship", "completed"), 7000)
    assert phases == [{"adw_id": "w1", "phase": "ship", "started_ms": 7000, "ended_ms": None}]


def test_the_recorder_records_changes_only_and_skips_unusable_records() -> None:
    rows = Rows()
    recorder = RunRecorder(rows)
    recorder.seed([record("build")])
    recorder.observe(Change(1, 2.0, (record("build", tokens={"in": 5, "out": 2}),), ()))
    assert rows.tables["runs"][0]["tokens_in"] == 5
    assert "run_phases" not in rows.tables  # same phase as at start: nothing moved
    recorder.observe(Change(2, 3.0, (record("test"), record(adw_id="bad", status="error")), ()))
    assert [r["adw_id"] for r in rows.tables["runs"]] == ["w1", "w1"]
    assert [(p["phase"], p["ended_ms"]) for p in rows.tables["run_phases"]] == [
        ("build", 3000),
        ("test", None),
    ]


def test_a_stream_of_token_changes_is_one_row_every_two_seconds_and_none_is_lost() -> None:
    rows = Rows()
    recorder = RunRecorder(rows)
    recorder.seed([record("build")])
    for i in range(1, 31):  # 30 changes in 1.5 s, tokens only
        recorder.observe(Change(i, 10.0 + i * 0.05, (record("build", tokens={"in": i}),), ()))
    assert [r["tokens_in"] for r in rows.tables["runs"]] == [1]  # the rest are held
    recorder.observe(Change(31, 12.1, (record("build", tokens={"in": 31}),), ()))
    assert [r["tokens_in"] for r in rows.tables["runs"]] == [1, 31]
    recorder.observe(Change(32, 12.2, (record("build", tokens={"in": 32}),), ()))
    recorder.observe(Change(33, 12.3, (record("test", tokens={"in": 33}),), ()))  # a fact moved
    assert [r["tokens_in"] for r in rows.tables["runs"]] == [1, 31, 33]
    recorder.observe(Change(34, 12.4, (record("test", tokens={"in": 34}),), ()))
    recorder.flush()  # at shutdown: the newest held row goes too
    assert [r["tokens_in"] for r in rows.tables["runs"]] == [1, 31, 33, 34]


def test_an_agent_row_comes_from_its_result_line() -> None:
    line = {
        "type": "result",
        "num_turns": 12,
        "duration_ms": 73356,
        "total_cost_usd": 0.38,
        "usage": {"input_tokens": 80, "cache_read_input_tokens": 920, "output_tokens": 40},
    }
    event = new_event(
        ts=1234, adw_id="w1", agent="planner", kind="result", cost_usd=0.38,
        payload=json.dumps(line),
    )  # fmt: skip
    assert agent_row(event) == {
        "adw_id": "w1",
        "agent": "planner",
        "ended_ms": 1234,
        "num_turns": 12,
        "duration_ms": 73356.0,
        "cost_usd": 0.38,
        "tokens_in": 1000,
        "tokens_out": 40,
        "is_error": False,
    }
    # A hook's event, a line that is not JSON, or another kind: never a crash.
    assert agent_row(new_event(kind="result", agent="x", adw_id=None)) is None
    garbage = agent_row(new_event(kind="result", agent="x", adw_id="w1", payload="{oops"))
    assert garbage is not None and garbage["num_turns"] is None
    assert agent_row(new_event(kind="message", agent="x", adw_id="w1")) is None
