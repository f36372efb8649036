"""`/api/*` and `/ws/*` against a real server process, real files and real WebSocket clients."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from conftest import by_id, recv_json, recv_until
from websockets.asyncio.client import connect

from livewatch.testing import LiveServer

SEED_FIELDS = {"adw_id": str, "issue_number": int, "phase": str, "github_url": str}


@pytest.fixture
def server(tmp_path: Path) -> LiveServer:
    agents = tmp_path / "agents"
    agents.mkdir()
    live = LiveServer(agents, env={"LIVEWATCH_GITHUB_REPO": "acme/shop"})
    live.agents.write("aaaa1111", issue_number=42)
    live.agents.write("bbbb2222", issue_number="not-a-number")
    live.start()
    yield live
    live.stop()


async def test_snapshot_on_connect_has_the_seed_shape(server: LiveServer) -> None:
    async with connect(server.ws_url("/ws/workflows")) as ws:
        message = await recv_json(ws)
    assert message["type"] == "workflows_update"
    records = by_id(message)
    assert set(records) == {"aaaa1111", "bbbb2222"}
    first = records["aaaa1111"]
    for field, kind in SEED_FIELDS.items():
        assert isinstance(first[field], kind), field
    assert first["issue_number"] == 42
    assert first["github_url"] == "https://github.com/acme/shop/issues/42"
    assert records["bbbb2222"]["issue_number"] is None
    assert records["bbbb2222"]["github_url"] is None


async def test_new_changed_and_deleted_workflows_are_pushed(server: LiveServer) -> None:
    async with connect(server.ws_url("/ws/workflows")) as ws:
        await recv_json(ws)
        server.agents.write("cccc3333", issue_number=7)
        added = await recv_until(ws, lambda m: "cccc3333" in by_id(m))
        assert by_id(added)["cccc3333"]["issue_number"] == 7

        server.agents.update("cccc3333", issue_class="/bug")
        changed = await recv_until(ws, lambda m: by_id(m)["cccc3333"]["issue_class"] == "/bug")
        assert changed["type"] == "workflows_update"

        server.agents.remove("cccc3333")
        await recv_until(ws, lambda m: "cccc3333" not in by_id(m))


async def test_a_new_phase_folder_moves_the_phase(server: LiveServer) -> None:
    async with connect(server.ws_url("/ws/workflows")) as ws:
        await recv_json(ws)
        (server.agents_dir / "aaaa1111" / "adw_build_iso").mkdir()
        message = await recv_until(ws, lambda m: by_id(m)["aaaa1111"]["phase"] == "build")
        assert by_id(message)["aaaa1111"]["phases_done"] == 1


async def test_a_burst_of_500_writes_ends_in_the_exact_final_state(server: LiveServer) -> None:
    async with connect(server.ws_url("/ws/workflows")) as ws:
        await recv_json(ws)
        for i in range(500):
            server.agents.write(f"burst{i % 50:03d}", issue_number=i)
        expected = {f"burst{n:03d}": 450 + n for n in range(50)}

        def final(m: dict) -> bool:
            got = by_id(m)
            return all(got.get(k, {}).get("issue_number") == v for k, v in expected.items())

        await recv_until(ws, final, timeout=15)
    listed = {w["adw_id"]: w["issue_number"] for w in server.get("/api/workflows").json()}
    assert {k: listed[k] for k in expected} == expected


async def test_bad_state_files_become_error_rows_and_others_keep_updating(
    server: LiveServer,
) -> None:
    bad = {
        "corrupt01": b'{"adw_id": "corrupt01", "issue_',
        "empty0001": b"",
        "latin0001": '{"adw_id": "latin0001", "branch_name": "caf\xe9"}'.encode("latin-1"),
    }
    async with connect(server.ws_url("/ws/workflows")) as ws:
        await recv_json(ws)
        for adw_id, body in bad.items():
            (server.agents_dir / adw_id).mkdir()
            (server.agents_dir / adw_id / "adw_state.json").write_bytes(body)
        # The whole workflow folder is made beside the agents dir and moved in: made in
        # place, it is read first without its file ("missing"), or with it still empty.
        outside = server.agents_dir.parent / "huge00001"
        outside.mkdir()
        with (outside / "adw_state.json").open("wb") as f:
            f.truncate(60 * 1024 * 1024)
        os.replace(outside, server.agents_dir / "huge00001")
        names = {*bad, "huge00001"}
        message = await recv_until(ws, lambda m: names <= set(by_id(m)))
        for name in names:
            row = by_id(message)[name]
            assert row["status"] == "error", name
            assert row["error"] and "\n" not in row["error"], name
        assert "1048576" in by_id(message)["huge00001"]["error"]
        # The healthy ones still follow their files.
        server.agents.update("aaaa1111", issue_class="/chore")
        await recv_until(ws, lambda m: by_id(m)["aaaa1111"]["issue_class"] == "/chore")


async def test_routes_socket_sends_only_routes(server: LiveServer) -> None:
    async with connect(server.ws_url("/ws/routes")) as ws:
        message = await recv_json(ws)
        assert message["type"] == "routes_update"
        pairs = {(r["method"], r["path"]) for r in message["data"]}
        assert {("GET", "/api/workflows"), ("WS", "/ws/workflows"), ("GET", "/api/routes")} <= pairs
        assert not any(path.startswith("/_nicegui") for _, path in pairs)
        server.agents.write("dddd4444")
        with pytest.raises(TimeoutError):
            await recv_json(ws, timeout=1.0)


def test_rest_lists_match_the_seed(server: LiveServer) -> None:
    workflows = server.get("/api/workflows")
    assert workflows.status_code == 200
    assert {w["adw_id"] for w in workflows.json()} == {"aaaa1111", "bbbb2222"}
    routes = server.get("/api/routes").json()
    assert routes["total"] == len(routes["routes"]) > 0
    route = routes["routes"][0]
    assert set(route) == {"path", "method", "handler", "description"}
    # The JSON-404 catch-all is plumbing, like NiceGUI's internals: not a route a user wrote.
    assert not [r for r in routes["routes"] if r["handler"] == "unknown_api"]
    assert server.get("/api/nope").json() == {"detail": "no API endpoint /api/nope"}


def test_rest_lists_carry_an_etag(server: LiveServer) -> None:
    first = server.get("/api/workflows")
    tag = first.headers["etag"]
    assert server.get("/api/workflows", headers={"If-None-Match": tag}).status_code == 304
    server.agents.write("eeee5555")
    deadline = time.monotonic() + 5
    while server.get("/api/workflows", headers={"If-None-Match": tag}).status_code == 304:
        assert time.monotonic() < deadline, "the ETag never changed"
        time.sleep(0.05)


def test_workflow_detail_and_the_404s(server: LiveServer) -> None:
    server.agents.enter_phase("aaaa1111", "plan")
    server.agents.result("aaaa1111", "sdlc_planner", cost_usd=0.25)
    detail = server.get("/api/workflows/aaaa1111")
    assert detail.status_code == 200
    body = detail.json()
    assert body["state"]["issue_number"] == "42"
    assert body["agents"][0]["name"] == "sdlc_planner"
    assert body["phases"][0]["log_tail"], "the plan log's tail is served"

    for path in (
        "/api/workflows/nope0000",
        "/api/workflows/..%2F..%2Fetc",
        "/api/workflows/.hidden",
        "/api/nothing/here",
    ):
        response = server.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("application/json"), path
        assert "detail" in response.json()


def test_openapi_docs_are_served(server: LiveServer) -> None:
    assert server.get("/docs").status_code == 200
    schema = server.get("/openapi.json").json()
    assert "/api/workflows" in schema["paths"]
    assert "/api/workflows/{adw_id}" in schema["paths"]


async def test_an_agents_dir_created_after_start_is_picked_up(tmp_path: Path) -> None:
    agents = tmp_path / "later" / "agents"
    server = LiveServer(agents, log_path=tmp_path / "server.log").start()
    try:
        async with connect(server.ws_url("/ws/workflows")) as ws:
            assert (await recv_json(ws))["data"] == []
            server.agents.write("ffff6666")
            await recv_until(ws, lambda m: "ffff6666" in by_id(m))
            # Deleted and created again, it is still followed.
            server.agents.remove("ffff6666")
            os.rmdir(agents)
            await recv_until(ws, lambda m: m["data"] == [])
            server.agents.write("abab1212")
            await recv_until(ws, lambda m: "abab1212" in by_id(m))
    finally:
        server.stop()


async def test_sigterm_stops_the_server_quickly_with_clients_connected(
    server: LiveServer,
) -> None:
    async with (
        connect(server.ws_url("/ws/workflows")) as one,
        connect(server.ws_url("/ws/routes")) as two,
    ):
        await recv_json(one)
        await recv_json(two)
        started = time.monotonic()
        assert server.stop(signal.SIGTERM) is not None
        assert time.monotonic() - started < 5
    log = server.log()
    assert "[STARTUP] Workflow and routes watchers started" in log
    assert "Traceback" not in log


async def test_log_lines_the_troubleshooting_guide_greps_for(server: LiveServer) -> None:
    async with connect(server.ws_url("/ws/workflows")) as ws:
        await recv_json(ws)
        server.agents.write("abcd9999")
        await recv_until(ws, lambda m: "abcd9999" in by_id(m))
    deadline = time.monotonic() + 3
    while "[WS] Broadcasted 1 workflows update to 1 clients" not in server.log():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)


def test_records_serialise_like_the_seed(server: LiveServer) -> None:
    records = json.loads(server.get("/api/workflows").text)
    for record in records:
        assert list(record)[:4] == list(SEED_FIELDS)
