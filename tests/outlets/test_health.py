"""`/healthz` and `/metrics` on a real server: states, counts, and Prometheus text."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import recv_json, recv_until, serving, wait_for
from websockets.asyncio.client import connect

from livewatch.outlets.health import health
from livewatch.runtime import Runtime
from livewatch.settings import Settings
from livewatch.testing import LiveServer


@pytest.fixture
def server(tmp_path: Path) -> LiveServer:
    with serving(tmp_path, "aaaa1111") as live:
        yield live


async def test_healthz_reports_watchers_clients_and_counts(server: LiveServer) -> None:
    async with connect(server.ws_url("/ws/workflows")) as ws:
        await recv_json(ws)
        server.agents.write("bbbb2222")
        await recv_until(ws, lambda m: len(m["data"]) == 2)
        response = server.get("/healthz")
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "ok"
    assert report["watchers"]["workflows"]["state"] == "watching"
    assert report["watchers"]["workflows"]["mode"] == "inotify"
    assert report["watchers"]["workflows"]["events"] >= 1
    assert report["watchers"]["workflows"]["last_event"] is not None
    assert report["watchers"]["routes"]["state"] == "watching"
    assert report["clients"]["workflows"] == 1
    assert report["workflows"] == 2
    # What start-up built is out of the cycle collector's sight: its full passes stay short.
    assert report["process"]["gc_frozen"] > 50_000


async def test_health_is_unhealthy_until_the_watchers_run(tmp_path: Path) -> None:
    rt = Runtime.build(Settings(agents_dir=tmp_path), own_routes=list)
    healthy, report = health(rt, started_at=0)
    assert not healthy
    assert report["status"] == "unhealthy"
    rt.workflow_watcher.state = rt.routes_watcher.state = "watching"
    assert health(rt, started_at=0)[0]


def test_healthz_shows_why_an_app_cannot_be_introspected(tmp_path: Path) -> None:
    # A broken --app keeps the last good routes (none here) and its error is reported.
    (tmp_path / "broken.py").write_text("raise RuntimeError('nope')\n")
    agents = tmp_path / "agents"
    agents.mkdir()
    server = LiveServer(agents, args=["--app", "broken:app"], cwd=tmp_path).start()
    try:
        report = server.get("/healthz").json()
        assert "nope" in report["watchers"]["routes"]["error"]
    finally:
        server.stop()


SENT = 'livewatch_messages_sent_total{endpoint="/ws/workflows"}'


def sample(text: str, name: str) -> float:
    """The value of one Prometheus sample in `text`, 0 when it is absent."""
    prefix = f"{name} "
    line = next((line for line in text.splitlines() if line.startswith(prefix)), None)
    return float(line.removeprefix(prefix)) if line else 0.0


async def test_metrics_count_connections_messages_and_events(server: LiveServer) -> None:
    async with connect(server.ws_url("/ws/workflows?protocol=2")) as ws:
        await recv_json(ws)
        server.agents.write("cccc3333")
        await recv_until(ws, lambda m: m["type"] == "delta")
        # The server counts a message once its send returns, which can be a moment after the
        # client already holds it: wait for the count to arrive, then check it is exact.
        text = wait_for(lambda: t if sample(t := server.get("/metrics").text, SENT) >= 2 else None)
    assert 'livewatch_connections{endpoint="/ws/workflows"} 1.0' in text
    assert sample(text, SENT) == 2
    assert sample(text, "livewatch_broadcast_latency_seconds_count") == 1
    assert "livewatch_watcher_events_total" in text
    events = next(
        line for line in text.splitlines() if line.startswith("livewatch_watcher_events_total")
    )
    assert float(events.split()[-1]) >= 1
    assert "livewatch_reconcile_corrections_total" in text
    assert "livewatch_read_errors_total 0.0" in text
