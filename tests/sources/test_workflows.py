"""Reading `agents/<adw_id>/` folders: the record rules, and never crashing on bad input."""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livewatch.hub.records import PHASES, Workflow, WorkflowDetail
from livewatch.sources.workflows import (
    ADW_ID_PATTERN,
    is_valid_adw_id,
    read_detail,
    read_workflow,
    scan,
    workflow_ids,
)

SAMPLE_AGENTS = Path(__file__).parents[2] / "agents"
ADW = "abc12345"
NOW = 1_800_000_000.0  # a fixed "now", so no status depends on the test machine's clock
OLD = NOW - 3600  # an mtime well outside the default 300 s running window
DEFAULT: Any = object()


# --- helpers: build workflow folders from plain Python values ------------------------------


def state_for(adw_id: str = ADW, **extra: Any) -> dict[str, Any]:
    """A realistic adw_state.json, as ADW writes it (issue_number is a string)."""
    return {
        "adw_id": adw_id,
        "issue_number": "42",
        "branch_name": f"feature-issue-42-adw-{adw_id}-csv-export",
        "plan_file": f"specs/issue-42-adw-{adw_id}-sdlc_planner-csv-export.md",
        "worktree_path": f"/srv/app/trees/{adw_id}",
        "issue_class": "/feature",
        "backend_port": 9103,
        "frontend_port": 9203,
        "model_set": "base",
        "all_adws": ["adw_plan_iso"],
        **extra,
    }


def result(cost: float | None = 0.25, *, is_error: bool = False, text: str = "Done.") -> dict:
    """The `result` line that ends an agent's raw_output.jsonl."""
    line: dict[str, Any] = {
        "type": "result",
        "subtype": "error_during_execution" if is_error else "success",
        "is_error": is_error,
        "duration_ms": 61234,
        "num_turns": 12,
        "result": text,
    }
    if cost is not None:
        line["total_cost_usd"] = cost
    return line


STREAM_START = [
    {"type": "system", "subtype": "init", "session_id": "s1", "model": "claude-sonnet-4-5"},
    {"type": "assistant", "message": {"content": [{"type": "text", "text": "Reading the issue"}]}},
]


def make_workflow(
    root: Path,
    adw_id: str = ADW,
    *,
    state: dict[str, Any] | str | bytes | None = DEFAULT,
    phases: tuple[str, ...] = ("plan",),
    logs: dict[str, str | bytes] | None = None,
    agents: dict[str, list[dict[str, Any] | str]] | None = None,
    mtime: float | None = OLD,
) -> Path:
    """Write `root/adw_id/` in the ADW layout and give every path the same `mtime`."""
    folder = root / adw_id
    folder.mkdir(parents=True)
    if state is DEFAULT:
        state = state_for(adw_id)
    if isinstance(state, dict):
        state = json.dumps(state, indent=2)
    if isinstance(state, str):
        state = state.encode()
    if state is not None:
        (folder / "adw_state.json").write_bytes(state)
    for phase in phases:
        (folder / f"adw_{phase}_iso").mkdir()
        log = (logs or {}).get(phase, f"2026-11-20 10:00:00 - INFO - Starting adw_{phase}_iso\n")
        log_bytes = log.encode() if isinstance(log, str) else log
        (folder / f"adw_{phase}_iso" / "execution.log").write_bytes(log_bytes)
    for name, lines in (agents or {}).items():
        (folder / name).mkdir()
        text = "".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines)
        (folder / name / "raw_output.jsonl").write_text(text)
    if mtime is not None:
        touch_tree(folder, mtime)
    return folder


def touch_tree(folder: Path, mtime: float) -> None:
    """Set the mtime of a folder and everything in it (symlinks themselves, not targets)."""
    for top, dirs, files in os.walk(folder, topdown=False):
        for name in dirs + files:
            os.utime(Path(top) / name, (mtime, mtime), follow_symlinks=False)
    os.utime(folder, (mtime, mtime))


def assert_one_line_error(record: Workflow, contains: str = "") -> None:
    assert record.status == "error"
    assert record.error, "an error record must say why"
    assert len(record.error.splitlines()) == 1
    assert contains in record.error


# --- the fields of one record ---------------------------------------------------------------


def test_a_seed_folder_reads_into_typed_fields(tmp_path: Path) -> None:
    folder = make_workflow(tmp_path, agents={"sdlc_planner": [*STREAM_START, result(0.38)]})

    wf = read_workflow(folder, now=NOW)

    assert wf == Workflow(
        adw_id=ADW,
        issue_number=42,
        phase="plan",
        github_url=None,
        status="stalled",
        issue_class="/feature",
        branch_name=f"feature-issue-42-adw-{ADW}-csv-export",
        model_set="base",
        all_adws=["adw_plan_iso"],
        worktree_path=f"/srv/app/trees/{ADW}",
        phases_done=0,
        cost_usd=0.38,
        updated_at=datetime.fromtimestamp(OLD, UTC).isoformat(timespec="microseconds"),
        error=None,
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("42", 42),
        (42, 42),
        (" 7 ", 7),
        (4.0, 4),
        ("abc", None),
        ("", None),
        ("-3", None),
        ("4.5", None),
        (True, None),
        ([42], None),
        (None, None),
    ],
)
def test_issue_number_becomes_int_or_none_never_an_error(
    tmp_path: Path, raw: Any, expected: int | None
) -> None:
    folder = make_workflow(tmp_path, state=state_for(issue_number=raw))
    wf = read_workflow(folder, now=NOW)
    assert wf.issue_number == expected
    assert wf.error is None


def test_a_missing_issue_number_is_none(tmp_path: Path) -> None:
    state = state_for()
    del state["issue_number"]
    assert read_workflow(make_workflow(tmp_path, state=state), now=NOW).issue_number is None


def test_wrongly_typed_fields_are_coerced_not_refused(tmp_path: Path) -> None:
    state = state_for(issue_class=5, branch_name=["x"], model_set=None, all_adws="adw_plan_iso")
    wf = read_workflow(make_workflow(tmp_path, state=state), now=NOW)
    assert (wf.issue_class, wf.branch_name, wf.model_set) == (None, None, None)
    assert wf.all_adws == ["adw_plan_iso"]
    assert wf.error is None

    other = make_workflow(tmp_path, "other", state=state_for("other", all_adws={"a": 1}))
    assert read_workflow(other, now=NOW).all_adws == []
    mixed = make_workflow(tmp_path, "mixed", state=state_for("mixed", all_adws=["adw_x", 3]))
    assert read_workflow(mixed, now=NOW).all_adws == ["adw_x"]


@pytest.mark.parametrize(
    ("phases", "expected"),
    [
        ((), "plan"),
        (("plan",), "plan"),
        (("plan", "build"), "build"),
        (("plan", "build", "review"), "review"),  # a skipped phase does not matter
        (PHASES, "ship"),
    ],
)
def test_phase_is_the_latest_phase_folder(
    tmp_path: Path, phases: tuple[str, ...], expected: str
) -> None:
    assert read_workflow(make_workflow(tmp_path, phases=phases), now=NOW).phase == expected


def test_phase_ignores_files_and_symlinks_named_like_phase_folders(tmp_path: Path) -> None:
    outside = tmp_path / "outside_ship"
    outside.mkdir()
    (outside / "execution.log").write_text("Ship phase completed successfully\n")
    folder = make_workflow(tmp_path, phases=("plan", "build"))
    (folder / "adw_test_iso").write_text("a file, not a phase folder")
    (folder / "adw_ship_iso").symlink_to(outside)

    wf = read_workflow(folder, now=NOW)
    assert (wf.phase, wf.status) == ("build", "stalled")


@pytest.mark.parametrize(
    ("phases", "ship_log", "expected"),
    [
        (("plan", "build"), None, 1),
        (PHASES[:5], None, 4),
        (PHASES, "Merging into main\n", 5),
        (PHASES, "Ship phase completed successfully\n", 6),  # completed counts its own phase
    ],
)
def test_phases_done(
    tmp_path: Path, phases: tuple[str, ...], ship_log: str | None, expected: int
) -> None:
    folder = make_workflow(tmp_path, phases=phases, logs={"ship": ship_log or ""})
    assert read_workflow(folder, now=NOW).phases_done == expected


def test_github_url_needs_a_repo_and_an_issue_number(tmp_path: Path) -> None:
    folder = make_workflow(tmp_path)
    no_issue = make_workflow(tmp_path, "noissue", state=state_for("noissue", issue_number="?"))

    assert read_workflow(folder, github_repo="acme/shop", now=NOW).github_url == (
        "https://github.com/acme/shop/issues/42"
    )
    assert read_workflow(folder, now=NOW).github_url is None
    assert read_workflow(no_issue, github_repo="acme/shop", now=NOW).github_url is None


def test_cost_sums_each_agents_last_result(tmp_path: Path) -> None:
    folder = make_workflow(
        tmp_path,
        agents={
            "sdlc_planner": [*STREAM_START, result(0.1), *STREAM_START, result(0.25)],
            "sdlc_implementor": [*STREAM_START, result(0.5), {"type": "assistant"}],
            "test_runner": [*STREAM_START],  # still running: no result yet
            "reviewer": [result(None)],  # a result without a cost
        },
    )
    assert read_workflow(folder, now=NOW).cost_usd == 0.75


def test_cost_is_none_without_result_lines(tmp_path: Path) -> None:
    folder = make_workflow(tmp_path, agents={"sdlc_planner": [*STREAM_START, "{not json"]})
    assert read_workflow(folder, now=NOW).cost_usd is None


# --- the status rule, branch by branch ------------------------------------------------------


def test_status_error_wins_over_everything(tmp_path: Path) -> None:
    folder = make_workflow(tmp_path, state=None, agents={"a": [result(is_error=True)]})
    wf = read_workflow(folder, now=OLD)
    assert_one_line_error(wf, "adw_state.json is missing")
    assert wf.cost_usd == 0.25  # still filled in where possible


def test_status_declared_in_state_wins_over_agents(tmp_path: Path) -> None:
    folder = make_workflow(
        tmp_path, state=state_for(status="completed"), agents={"a": [result(is_error=True)]}
    )
    assert read_workflow(folder, now=NOW).status == "completed"


def test_status_unknown_declared_value_is_ignored(tmp_path: Path) -> None:
    folder = make_workflow(tmp_path, state=state_for(status="paused"))
    assert read_workflow(folder, now=NOW).status == "stalled"


def test_status_failed_when_an_agents_last_result_is_an_error(tmp_path: Path) -> None:
    folder = make_workflow(
        tmp_path,
        phases=PHASES,
        logs={"ship": "Ship phase completed successfully\n"},
        agents={"ok": [result()], "test_runner": [result(is_error=True)]},
    )
    assert read_workflow(folder, now=OLD).status == "failed"


@pytest.mark.parametrize(
    ("last_line", "expected"),
    [
        ("2026-11-21 09:40:11 - INFO - Ship phase completed successfully", "completed"),
        ("PR merged, SHIPPED", "completed"),
        ("Success", "completed"),
        ("2026-11-21 09:40:02 - INFO - Merging branch into main", "stalled"),
    ],
)
def test_status_completed_from_the_ship_logs_last_line(
    tmp_path: Path, last_line: str, expected: str
) -> None:
    log = f"2026-11-21 09:40:00 - INFO - Starting ship\n{last_line}\n\n\n"
    folder = make_workflow(tmp_path, phases=PHASES, logs={"ship": log})
    assert read_workflow(folder, now=NOW).status == expected


def test_status_running_within_the_window_then_stalled(tmp_path: Path) -> None:
    folder = make_workflow(tmp_path, mtime=NOW - 10)
    assert read_workflow(folder, now=NOW).status == "running"
    assert read_workflow(folder, now=NOW + 600).status == "stalled"
    assert read_workflow(folder, now=NOW + 600, running_window=900).status == "running"


def test_updated_at_is_the_newest_mtime_two_levels_deep(tmp_path: Path) -> None:
    folder = make_workflow(tmp_path, agents={"sdlc_planner": [result()]})
    (folder / "sdlc_planner" / "prompts").mkdir()
    (folder / "sdlc_planner" / "prompts" / "plan.txt").write_text("deeper than two levels")
    touch_tree(folder, OLD)
    os.utime(folder / "sdlc_planner" / "raw_output.jsonl", (OLD + 60, OLD + 60))
    os.utime(folder / "sdlc_planner" / "prompts" / "plan.txt", (NOW, NOW))  # not looked at

    wf = read_workflow(folder, now=NOW)
    updated = datetime.fromisoformat(wf.updated_at or "")
    assert updated.tzinfo == UTC
    assert updated.timestamp() == OLD + 60
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", wf.updated_at or "")


# --- the detail view ------------------------------------------------------------------------


def test_detail_keeps_unknown_state_keys_and_shows_timeline_logs_agents(tmp_path: Path) -> None:
    state = state_for(workflow_template="adw_sdlc_iso", estimated_cost_total=1.5, extra={"a": 1})
    plan_log = "".join(f"2026-11-20 10:00:0{i} - INFO - step {i}\n" for i in range(5))
    build_log = b"2026-11-20 10:05:00 - INFO - bad bytes \xff\xfe here\r\n"
    folder = make_workflow(
        tmp_path,
        state=state,
        phases=("plan", "build"),
        logs={"plan": plan_log, "build": build_log},
        agents={
            "sdlc_planner": [*STREAM_START, result(0.4, text="Plan written")],
            "sdlc_implementor": [*STREAM_START],
        },
    )

    detail = read_detail(folder, now=NOW, log_lines=2)

    assert isinstance(detail, WorkflowDetail)
    assert detail.state == state
    assert [(s.phase, s.state) for s in detail.phases] == [
        ("plan", "done"),
        ("build", "current"),
        ("test", "pending"),
        ("review", "pending"),
        ("document", "pending"),
        ("ship", "pending"),
    ]
    plan, build = detail.phases[0], detail.phases[1]
    assert plan.started_at == "2026-11-20T10:00:00"
    assert plan.log_tail == [
        "2026-11-20 10:00:03 - INFO - step 3",
        "2026-11-20 10:00:04 - INFO - step 4",
    ]
    assert build.log_tail == ["2026-11-20 10:05:00 - INFO - bad bytes \ufffd\ufffd here"]
    implementor, planner = detail.agents  # sorted by name
    assert (planner.name, planner.is_error, planner.cost_usd) == ("sdlc_planner", False, 0.4)
    assert (planner.num_turns, planner.duration_ms, planner.result) == (12, 61234, "Plan written")
    assert implementor.name == "sdlc_implementor"
    assert implementor.result is None
    detail.model_dump_json()  # the whole record serializes


def test_detail_of_a_completed_workflow_marks_every_phase_done(tmp_path: Path) -> None:
    folder = make_workflow(tmp_path, phases=PHASES, logs={"ship": "Ship phase completed\n"})
    detail = read_detail(folder, now=NOW)
    assert detail.status == "completed"
    assert {s.state for s in detail.phases} == {"done"}


# --- unusable state files: an error record, never an exception ------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"adw_id": "abc12345", "issue_number": "4', "adw_state.json is not valid JSON: "),
        (b"", "adw_state.json is empty"),
        (b"  \n", "adw_state.json is empty"),
        (b"[1, 2]", "adw_state.json holds a JSON array, not a JSON object"),
        (b'"abc12345"', "adw_state.json holds a JSON string, not a JSON object"),
        (b'{"issue_number": "42"}', "adw_state.json has no adw_id"),
        (
            b'{"adw_id": "deadbeef"}',
            "adw_id 'deadbeef' in adw_state.json differs from folder name 'abc12345'",
        ),
        (b'{"adw_id": "abc12345", "x": "caf\xe9"}', "adw_state.json is not valid UTF-8"),
        (b"[" * 100_000, "adw_state.json is not valid JSON: nested too deeply"),
    ],
)
def test_unusable_state_file_gives_a_one_line_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    folder = make_workflow(
        tmp_path, state=content, phases=("plan", "build"), agents={"a": [result(0.5)]}
    )

    wf = read_workflow(folder, now=NOW)

    assert_one_line_error(wf, message)
    assert (wf.adw_id, wf.phase, wf.cost_usd) == (ADW, "build", 0.5)  # the rest is filled in
    assert read_detail(folder, now=NOW).error == wf.error


def test_a_mismatched_adw_id_still_shows_the_state(tmp_path: Path) -> None:
    folder = make_workflow(tmp_path, state=state_for("deadbeef"))
    detail = read_detail(folder, now=NOW)
    assert_one_line_error(detail, "differs from folder name")
    assert (detail.issue_number, detail.state["adw_id"]) == (42, "deadbeef")


def test_a_60_mb_state_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    folder = make_workflow(tmp_path, state=None)
    with open(folder / "adw_state.json", "wb") as f:
        f.truncate(60 * 1024 * 1024)  # sparse: instant, and takes no disk space

    started = time.perf_counter()
    wf = read_workflow(folder, now=NOW)

    assert time.perf_counter() - started < 1
    assert wf.error == "adw_state.json is 62914560 bytes; the limit is 1048576"


def test_a_directory_named_adw_state_json_is_refused(tmp_path: Path) -> None:
    folder = make_workflow(tmp_path, state=None)
    (folder / "adw_state.json").mkdir()
    assert_one_line_error(read_workflow(folder, now=NOW), "not a regular file (directory)")


def test_a_fifo_state_file_does_not_block(tmp_path: Path) -> None:
    folder = make_workflow(tmp_path, state=None)
    os.mkfifo(folder / "adw_state.json")  # opening it for reading would wait for a writer

    started = time.perf_counter()
    wf = read_workflow(folder, now=NOW)
    scan(tmp_path, now=NOW)
    read_detail(folder, now=NOW)

    assert time.perf_counter() - started < 2
    assert_one_line_error(wf, "not a regular file (FIFO)")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_an_unreadable_state_file(tmp_path: Path) -> None:
    folder = make_workflow(tmp_path)
    (folder / "adw_state.json").chmod(0)
    try:
        assert_one_line_error(read_workflow(folder, now=NOW), "adw_state.json is not readable")
    finally:
        (folder / "adw_state.json").chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_a_missing_folder_or_a_file_gives_an_error_record(tmp_path: Path) -> None:
    assert_one_line_error(read_workflow(tmp_path / "gone1234", now=NOW), "missing")
    assert_one_line_error(read_detail(tmp_path / "gone1234", now=NOW), "missing")
    (tmp_path / "afile123").write_text("{}")
    assert_one_line_error(read_workflow(tmp_path / "afile123", now=NOW), "not a directory")


def test_values_that_would_not_serialize_are_cleaned(tmp_path: Path) -> None:
    nested = "[" * 500 + "]" * 500  # valid JSON, deeper than a record can serialize
    content = f'{{"adw_id": "{ADW}", "issue_class": "\\ud800", "deep": {nested}, "n": NaN}}'
    folder = make_workflow(
        tmp_path, state=content, agents={"a": ['{"type": "result", "total_cost_usd": NaN}']}
    )

    detail = read_detail(folder, now=NOW)

    assert detail.error is None
    assert (detail.issue_class, detail.cost_usd, detail.state["n"]) == ("?", None, None)
    json.loads(detail.model_dump_json())


def test_scan_skips_a_folder_that_vanishes_after_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_workflow(tmp_path)
    monkeypatch.setattr(
        "livewatch.sources.workflows.workflow_ids", lambda agents_dir: {ADW, "gone1234"}
    )
    assert [wf.adw_id for wf in scan(tmp_path, now=NOW)] == [ADW]


# --- symlinks are never followed --------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A valid workflow living outside agents/: whatever points at it must not be read."""
    return make_workflow(
        tmp_path / "outside",
        phases=PHASES,
        logs={"ship": "Ship phase completed successfully\n"},
        agents={"thief": [result(99.0)]},
    )


def test_a_symlinked_state_file_is_refused(tmp_path: Path, outside: Path) -> None:
    folder = make_workflow(tmp_path / "agents", state=None)
    (folder / "adw_state.json").symlink_to(outside / "adw_state.json")

    wf = read_workflow(folder, now=NOW)

    assert_one_line_error(wf, "adw_state.json is a symlink")
    assert wf.issue_number is None


def test_a_symlinked_workflow_folder_is_skipped(tmp_path: Path, outside: Path) -> None:
    agents = tmp_path / "agents"
    make_workflow(agents)
    (agents / "deadbeef").symlink_to(outside)

    assert workflow_ids(agents) == {ADW}
    assert [wf.adw_id for wf in scan(agents, now=NOW)] == [ADW]
    assert_one_line_error(read_workflow(agents / "deadbeef", now=NOW), "symlink")


def test_symlinked_agent_and_phase_folders_are_ignored(tmp_path: Path, outside: Path) -> None:
    folder = make_workflow(tmp_path / "agents", agents={"planner": [result(0.5)]})
    (folder / "thief").symlink_to(outside / "thief")
    (folder / "adw_ship_iso").symlink_to(outside / "adw_ship_iso")

    detail = read_detail(folder, now=NOW)

    assert [a.name for a in detail.agents] == ["planner"]
    assert (detail.cost_usd, detail.phase, detail.status) == (0.5, "plan", "stalled")


def test_symlink_loops_are_harmless(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    folder = make_workflow(agents, state=None)
    (folder / "adw_state.json").symlink_to(folder / "adw_state.json")
    (folder / "loop").symlink_to(folder / "loop")
    (folder / "adw_plan_iso" / "execution.log").unlink()
    (folder / "adw_plan_iso" / "execution.log").symlink_to(folder)
    (agents / "loop1234").symlink_to(agents / "loop1234")

    assert_one_line_error(read_workflow(folder, now=NOW), "symlink")
    assert [wf.adw_id for wf in scan(agents, now=NOW)] == [ADW]
    read_detail(folder, now=NOW).model_dump_json()


# --- big files: only tails are read -----------------------------------------------------------


def test_a_1_gb_raw_output_is_read_from_its_tail(tmp_path: Path) -> None:
    folder = make_workflow(tmp_path)
    (folder / "test_runner").mkdir()
    with open(folder / "test_runner" / "raw_output.jsonl", "wb") as f:
        f.truncate(1 << 30)  # 1 GB of (sparse) zeros
        f.seek(0, os.SEEK_END)
        f.write(b"\n" + json.dumps(result(1.25, is_error=True)).encode() + b"\n")
    with open(folder / "adw_plan_iso" / "execution.log", "ab") as f:
        f.truncate(1 << 30)
        f.write(b"\nlast log line\n")

    started = time.perf_counter()
    detail = read_detail(folder, now=NOW)

    assert time.perf_counter() - started < 1
    assert (detail.status, detail.cost_usd) == ("failed", 1.25)
    assert detail.phases[0].log_tail[-1] == "last log line"


# --- scanning a whole agents/ folder --------------------------------------------------------


def test_scan_reads_the_sample_agents_folder() -> None:
    records = scan(SAMPLE_AGENTS, github_repo="acme/shop")

    assert len(records) == 10
    assert [wf.adw_id for wf in records] == sorted(wf.adw_id for wf in records)
    assert all(re.fullmatch(r"[0-9a-f]{8}", wf.adw_id) for wf in records)
    statuses = [wf.status for wf in records]
    assert (statuses.count("failed"), statuses.count("completed"), statuses.count("error")) == (
        1,
        1,
        1,
    )
    assert {wf.phase for wf in records} == set(PHASES)
    for wf in records:
        if wf.status != "error":
            assert wf.issue_number is not None and 100 <= wf.issue_number <= 140
            assert wf.github_url == f"https://github.com/acme/shop/issues/{wf.issue_number}"
            assert wf.cost_usd is not None
        read_detail(SAMPLE_AGENTS / wf.adw_id).model_dump_json()


def test_scan_skips_files_hidden_and_invalid_names(tmp_path: Path) -> None:
    make_workflow(tmp_path, "bbb22222")
    make_workflow(tmp_path, "aaa11111")
    (tmp_path / "notes.txt").write_text("not a workflow")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "bad name").mkdir()

    assert workflow_ids(tmp_path) == {"aaa11111", "bbb22222"}
    assert [wf.adw_id for wf in scan(tmp_path, now=NOW)] == ["aaa11111", "bbb22222"]


def test_scan_of_a_missing_or_non_folder_agents_dir_is_empty(tmp_path: Path) -> None:
    assert scan(tmp_path / "missing") == []
    assert workflow_ids(tmp_path / "missing") == set()
    (tmp_path / "file").write_text("")
    assert scan(tmp_path / "file") == []


@pytest.mark.parametrize("name", ["../x", "..", ".", ".hidden", "a/b", "", "x" * 65, "a\n", "é1"])
def test_is_valid_adw_id_rejects_unsafe_names(name: str) -> None:
    assert not is_valid_adw_id(name)


@pytest.mark.parametrize("name", ["a1b2c3d4", "x", "x" * 64, "run_1.2-b"])
def test_is_valid_adw_id_accepts_plain_names(name: str) -> None:
    assert is_valid_adw_id(name)
    assert ADW_ID_PATTERN.fullmatch(name)


# --- any bytes at all -------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
state_objects = st.fixed_dictionaries(
    {"adw_id": st.sampled_from([ADW, "other"]) | json_values},
    optional={
        "issue_number": json_values,
        "issue_class": json_values,
        "all_adws": json_values,
        "status": st.sampled_from(["running", "failed", "idle", "completed"]) | json_values,
        "extra": json_values,
    },
).map(lambda d: json.dumps(d).encode())


@settings(max_examples=300, deadline=None)
@given(content=st.binary(max_size=512) | state_objects)
def test_any_bytes_as_state_give_a_record(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_workflow(Path(tmp), state=content, agents={"a": [result()]})

        wf = read_workflow(folder, now=NOW)
        detail = read_detail(folder, now=NOW)

    assert isinstance(wf, Workflow)
    assert wf.adw_id == ADW
    if wf.status == "error":
        assert wf.error and len(wf.error.splitlines()) == 1
    else:
        assert wf.error is None
    assert detail.error == wf.error
    detail.model_dump_json()  # whatever was in the file, the record serializes


def test_a_declared_running_state_that_went_quiet_is_stalled(tmp_path: Path) -> None:
    folder = make_workflow(tmp_path, state=state_for(status="running"), mtime=NOW - 10)
    assert read_workflow(folder, now=NOW).status == "running"
    assert read_workflow(folder, now=NOW + 600).status == "stalled"
    idle = make_workflow(tmp_path / "b", state=state_for(status="idle"), mtime=NOW - 10)
    assert read_workflow(idle, now=NOW + 600).status == "idle"  # said by the state itself
