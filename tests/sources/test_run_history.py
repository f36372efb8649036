"""The backfill's reading of a workflow folder: phases from log and folder times."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from livewatch.sources import run_history
from livewatch.sources.run_history import phase_rows, read_run, scan_runs

SAMPLES = Path(__file__).resolve().parents[2] / "agents"


def test_phases_end_where_the_next_begins() -> None:
    rows = phase_rows("w", {"build": 200, "plan": 100, "test": 300}, 450)
    assert [(r["phase"], r["started_ms"], r["ended_ms"]) for r in rows] == [
        ("plan", 100, 200),
        ("build", 200, 300),
        ("test", 300, 450),
    ]
    assert phase_rows("w", {"plan": 100}, None)[0]["ended_ms"] is None  # still running


def test_a_completed_sample_run_reads_from_its_logs(tmp_path: Path) -> None:
    folder = tmp_path / "e5c1a8d2"
    shutil.copytree(SAMPLES / "e5c1a8d2", folder)
    facts = read_run(folder)
    assert facts is not None
    assert facts.run["outcome"] == "completed" and facts.run["issue_number"] == 122
    phases = [(p["phase"], p["ended_ms"] - p["started_ms"]) for p in facts.phases]
    assert [name for name, _ in phases] == ["plan", "build", "test", "review", "document", "ship"]
    assert all(duration > 0 for _, duration in phases)
    # The run ends at the ship log's last line, not at the files' (checkout) times.
    assert facts.run["ended_ms"] == facts.phases[-1]["ended_ms"]
    assert facts.agents and all(a["num_turns"] for a in facts.agents)
    assert facts.run["tokens_in"] == sum(a["tokens_in"] for a in facts.agents)


def test_a_scan_skips_known_runs_and_unusable_folders(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    shutil.copytree(SAMPLES, agents)
    (agents / "broken").mkdir()
    (agents / "broken" / "adw_state.json").write_text("{not json")
    found = {f.run["adw_id"] for f in scan_runs(agents, skip={"e5c1a8d2"})}
    assert "e5c1a8d2" not in found and "broken" not in found
    assert len(found) >= 5


def test_a_parallel_scan_reads_the_same_runs_in_the_same_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agents = tmp_path / "agents"
    shutil.copytree(SAMPLES, agents)
    for sample in list(agents.iterdir()):
        for copy in range(3):  # more folders than one chunk
            twin = agents / f"{sample.name[:6]}c{copy}"
            shutil.copytree(sample, twin)
            state = twin / "adw_state.json"
            if state.is_file():
                state.write_text(state.read_text().replace(sample.name, twin.name))
    # Small chunks and two processes, as 10,000 folders on two cores would have.
    monkeypatch.setattr(run_history, "CHUNK", 4)
    monkeypatch.setattr(run_history, "worker_count", lambda _count: 2)
    serial = [f.run for f in run_history.scan_runs(agents)]
    parallel = [f.run for f in run_history.scan_runs(agents, parallel=True)]
    assert len(serial) >= 20
    assert parallel == serial
