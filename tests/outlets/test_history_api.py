"""The history over REST on a real server: backfilled from the samples, recorded live,
paged, filtered, summarised and exported, and whole after a restart."""

from __future__ import annotations

import csv
import io
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_for

from livewatch.testing import LiveServer

SAMPLES = Path(__file__).resolve().parents[2] / "agents"
# The samples a backfill finds: every folder with a usable state file.
SAMPLE_RUNS = 9


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    agents = tmp_path_factory.mktemp("history") / "agents"
    shutil.copytree(SAMPLES, agents)
    server = LiveServer(agents).start()
    try:
        wait_for(lambda: backfill_state(server) == "done")
        yield server
    finally:
        server.stop()


def backfill_state(live: LiveServer) -> str | None:
    history = live.get("/healthz").json().get("history") or {}
    return (history.get("backfill") or {}).get("state")


def all_runs(live: LiveServer, **params: Any) -> list[dict[str, Any]]:
    runs, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = live.get("/api/history/runs", params=query).json()
        runs += page["runs"]
        if (cursor := page["next_cursor"]) is None:
            return runs


def run_of(live: LiveServer, adw_id: str) -> dict[str, Any] | None:
    return next((r for r in all_runs(live, limit=1000) if r["adw_id"] == adw_id), None)


def test_the_samples_are_backfilled_with_phases_and_agents(live: LiveServer) -> None:
    runs = all_runs(live, limit=4)  # three pages
    assert len(runs) == len({r["adw_id"] for r in runs}) == SAMPLE_RUNS
    done = next(r for r in runs if r["adw_id"] == "e5c1a8d2")
    assert done["outcome"] == "completed" and done["issue_class"] == "/feature"
    assert [p["phase"] for p in done["phases"]][-1] == "ship"
    assert all(p["duration_ms"] > 0 for p in done["phases"])
    assert done["agents"] and done["agents"][0]["num_turns"]
    assert {r["outcome"] for r in runs} >= {"completed", "failed"}
    slowest = live.get("/api/history/runs", params={"sort": "slowest", "limit": 3}).json()
    durations = [r["duration_ms"] for r in slowest["runs"]]
    assert durations == sorted(durations, reverse=True)
    failed = live.get("/api/history/runs", params={"status": "failed"}).json()["runs"]
    assert failed and all(r["outcome"] == "failed" for r in failed)


@pytest.mark.parametrize(
    "query",
    [
        "status=bogus",
        "limit=0",
        "limit=5000",
        "cursor=garbage",
        "from=not-a-date",
        "from=2026-01-02&to=2026-01-01",
        "sort=cheapest",
    ],
)
def test_bad_parameters_get_a_clear_422(live: LiveServer, query: str) -> None:
    response = live.get(f"/api/history/runs?{query}")
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


def test_the_summary_counts_the_backfilled_runs(live: LiveServer) -> None:
    assert live.get("/api/history/summary?days=0").status_code == 422
    summary = live.get("/api/history/summary?days=90").json()
    assert len(summary["days"]) == 90
    total = sum(sum(day["runs"].values()) for day in summary["days"])
    assert total == SAMPLE_RUNS
    assert summary["phases"]["plan"]["count"] >= 5 and summary["phases"]["plan"]["p50_ms"] > 0
    assert summary["classes"]["/feature"]["success_rate"] == 1.0


def test_the_csv_export_is_a_download_of_the_range(live: LiveServer) -> None:
    response = live.get("/api/history/runs.csv", params={"days": 90})
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == SAMPLE_RUNS
    assert {"adw_id", "outcome", "duration_ms", "cost_usd", "plan_ms", "ship_ms"} <= set(rows[0])


def test_a_live_run_is_recorded_once_across_a_restart(live: LiveServer) -> None:
    writer = live.agents
    writer.write("live0001", issue_number=77, issue_class="/chore")
    writer.log("live0001", "plan", "Starting plan phase")
    wait_for(lambda: run_of(live, "live0001"))
    writer.log("live0001", "build", "Starting build phase")
    recorded = wait_for(lambda: (r := run_of(live, "live0001")) and len(r["phases"]) == 2 and r)
    plan, build = recorded["phases"]
    assert plan["phase"] == "plan" and plan["ended_at"] == build["started_at"]
    writer.update("live0001", status="completed")
    wait_for(lambda: (r := run_of(live, "live0001")) and r["outcome"] == "completed")
    before = all_runs(live, limit=1000)
    live.restart()
    wait_for(lambda: backfill_state(live) == "done")
    writer.update("live0001", status="completed", note="touched after the restart")
    after = all_runs(live, limit=1000)
    assert len(after) == len(before) == SAMPLE_RUNS + 1
    again = run_of(live, "live0001")
    assert again is not None
    assert [p["phase"] for p in again["phases"]] == ["plan", "build"]
    assert again["phases"][0] == plan  # the restart neither restarted nor repeated it
    assert again["phases"][1]["started_at"] == build["started_at"]
    # The activity chart's tally was saved: the minute's changes are in the database.
    db = live.agents_dir.parent / f"livewatch-{live.port}.db"
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT sum(count) FROM activity_minutes").fetchone()[0] > 0
