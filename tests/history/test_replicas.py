"""Two servers on one PostgreSQL database and one agents dir record each run and phase once."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import wait_for
from sqlalchemy import create_engine, text

from livewatch.testing import LiveServer

SAMPLES = Path(__file__).resolve().parents[2] / "agents"
SAMPLE_RUNS = 9


@pytest.fixture
def replicas(tmp_path: Path, postgres_url: str) -> Iterator[list[LiveServer]]:
    agents = tmp_path / "agents"
    shutil.copytree(SAMPLES, agents)
    servers = [LiveServer(agents, args=["--db", postgres_url]) for _ in range(2)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


def history(server: LiveServer) -> dict[str, object]:
    return server.get("/healthz").json()["history"]  # type: ignore[no-any-return]


def recorded(server: LiveServer, adw_id: str) -> bool:
    runs = server.get("/api/history/runs").json()["runs"]
    return any(r["adw_id"] == adw_id for r in runs)


def test_two_servers_record_each_run_and_phase_once(
    replicas: list[LiveServer], postgres_url: str
) -> None:
    for server in replicas:
        wait_for(lambda server=server: history(server)["backfill"]["state"] == "done")  # type: ignore[index]
    writer = replicas[0].agents
    writer.write("both0001", issue_number=5, issue_class="/bug")
    writer.log("both0001", "plan", "Starting plan phase")
    for server in replicas:  # phases take minutes: each server sees the plan phase first
        wait_for(lambda server=server: recorded(server, "both0001"))
    writer.log("both0001", "build", "Starting build phase")
    writer.update("both0001", status="completed")

    def finished(server: LiveServer) -> bool:
        runs = server.get("/api/history/runs", params={"status": "completed"}).json()["runs"]
        return any(r["adw_id"] == "both0001" for r in runs)

    for server in replicas:
        wait_for(lambda server=server: finished(server))
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        runs = connection.execute(text("SELECT count(*), count(DISTINCT adw_id) FROM runs")).one()
        phases = connection.execute(
            text("SELECT phase FROM run_phases WHERE adw_id = 'both0001' ORDER BY started_ms")
        ).scalars()
        assert tuple(runs) == (SAMPLE_RUNS + 1, SAMPLE_RUNS + 1)
        assert list(phases) == ["plan", "build"]
    engine.dispose()
    # Both rebuilt the daily rollup; neither counted a run twice.
    for server in replicas:
        wait_for(
            lambda server=server: (
                sum(
                    sum(day["runs"].values())
                    for day in server.get("/api/history/summary?days=90").json()["days"]
                )
                == SAMPLE_RUNS + 1
            )
        )
        assert server.get("/healthz").json()["db"] == "ok"
