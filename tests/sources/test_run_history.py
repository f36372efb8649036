"""The backfill's reading of a workflow folder: phases from log and folder times."""

from __future__ import annotations

import shutil
from pathlib import Path

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
