"""Demo mode: the simulator moves sample workflows along, and `livewatch demo` shows it live."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest
from conftest import recv_json, recv_until
from websockets.asyncio.client import connect

from livewatch.demo.simulator import Simulator, sample_agents_dir
from livewatch.sources import workflows
from livewatch.testing import LiveServer


def test_the_simulator_moves_workflows_through_their_phases(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    shutil.copytree(sample_agents_dir(), agents)
    before = {w.adw_id: w for w in workflows.scan(agents)}
    simulator = Simulator(agents, seed=7, max_workflows=14)
    did = [simulator.step() for _ in range(300)]
    after = {w.adw_id: w for w in workflows.scan(agents)}

    assert any("entered" in d for d in did)
    assert any(d.startswith("failed") for d in did)
    assert any(d.startswith("started") for d in did)
    assert len(after) <= 14
    assert {w.status for w in after.values()} >= {"failed", "completed"}
    moved = [i for i in before.keys() & after.keys() if before[i].phase != after[i].phase]
    assert moved or set(before) != set(after)
    # The sample's broken state file is left broken: the demo shows an error row too.
    assert after["2c6e8d51"].status == "error"


async def test_livewatch_demo_shows_changes_within_seconds(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "unused", subcommand="demo").start()
    try:
        async with connect(server.ws_url("/ws/workflows?protocol=2")) as ws:
            snapshot = await recv_json(ws)
            assert len(snapshot["data"]) >= 10
            await recv_until(ws, lambda m: m["type"] == "delta", timeout=6)
    finally:
        server.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_livewatch_demo_removes_its_temp_copy_on_exit(tmp_path: Path, sig: int) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    server = LiveServer(tmp_path / "unused", subcommand="demo", env={"TMPDIR": str(temp)})
    server.start()
    assert [p.name[:15] for p in temp.iterdir()] == ["livewatch-demo-"]
    assert server.stop(sig) in (0, -sig)  # uvicorn re-raises the signal once it stopped
    assert list(temp.iterdir()) == []
