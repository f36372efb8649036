"""Protocol 2 sessions against a real server: snapshot, deltas, resume, heartbeat, limits."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import by_id, recv_json, recv_until
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from livewatch.testing import LiveServer


@contextlib.contextmanager
def limited_server(tmp_path: Path, send_timeout_s: float) -> Iterator[LiveServer]:
    agents = tmp_path / "agents"
    agents.mkdir()
    limits = ["--queue-size", "4", "--send-timeout-s", str(send_timeout_s)]
    live = LiveServer(agents, args=["--heartbeat-s", "0.5", *limits])
    live.agents.write("aaaa1111", issue_number=1)
    live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with limited_server(tmp_path, send_timeout_s=1) as live:
        yield live


@pytest.fixture
def patient_server(tmp_path: Path) -> Iterator[LiveServer]:
    # A loaded CI machine can take over a second to parse an 800 KB list: a reader that
    # slow is still reading, so the bound it is held to must be wide of it.
    with limited_server(tmp_path, send_timeout_s=10) as live:
        yield live


def v2(server: LiveServer, path: str = "/ws/workflows", **query: object) -> str:
    params = "&".join(f"{k}={v}" for k, v in {"protocol": 2, **query}.items())
    return server.ws_url(f"{path}?{params}")


async def test_snapshot_then_only_deltas(server: LiveServer) -> None:
    async with connect(v2(server)) as ws:
        snapshot = await recv_json(ws)
        assert snapshot["type"] == "snapshot"
        assert {"seq", "epoch", "ts", "data"} <= set(snapshot)
        assert [r["adw_id"] for r in snapshot["data"]] == ["aaaa1111"]

        server.agents.write("bbbb2222", issue_number=2)
        delta = await recv_until(ws, lambda m: m["type"] == "delta")
        assert delta["seq"] == snapshot["seq"] + 1
        assert [r["adw_id"] for r in delta["upsert"]] == ["bbbb2222"]
        assert delta["remove"] == []

        server.agents.remove("aaaa1111")
        delta = await recv_until(ws, lambda m: m["type"] == "delta" and m["remove"])
        assert delta["remove"] == ["aaaa1111"]


async def test_the_subprotocol_opts_in_too(server: LiveServer) -> None:
    async with connect(server.ws_url("/ws/routes"), subprotocols=["livewatch.v2"]) as ws:
        assert ws.subprotocol == "livewatch.v2"
        assert (await recv_json(ws))["type"] == "snapshot"


async def test_resume_sends_only_the_missed_deltas(server: LiveServer) -> None:
    async with connect(v2(server)) as ws:
        snapshot = await recv_json(ws)
    # While the client is away, two workflows change.
    server.agents.write("cccc3333")
    await asyncio.sleep(0.3)
    server.agents.write("dddd4444")
    await asyncio.sleep(0.3)
    async with connect(v2(server, since=snapshot["seq"], epoch=snapshot["epoch"])) as ws:
        first = await recv_json(ws)
        assert first["type"] == "delta"
        assert sorted(r["adw_id"] for r in first["upsert"]) == ["cccc3333", "dddd4444"]
        with pytest.raises(TimeoutError):
            await recv_json(ws, timeout=0.3)  # nothing else: no snapshot follows


async def test_resume_with_nothing_missed_is_confirmed_by_an_empty_delta(
    server: LiveServer,
) -> None:
    async with connect(v2(server)) as ws:
        snapshot = await recv_json(ws)
    async with connect(v2(server, since=snapshot["seq"], epoch=snapshot["epoch"])) as ws:
        first = await recv_json(ws)
    assert first["type"] == "delta"
    assert (first["seq"], first["upsert"], first["remove"]) == (snapshot["seq"], [], [])


async def test_resume_across_a_restart_gets_a_fresh_snapshot(server: LiveServer) -> None:
    async with connect(v2(server)) as ws:
        before = await recv_json(ws)
    server.restart()
    async with connect(v2(server, since=before["seq"], epoch=before["epoch"])) as ws:
        after = await recv_json(ws)
    assert after["type"] == "snapshot"
    assert after["epoch"] != before["epoch"]
    assert after["data"] == before["data"]


async def test_a_silent_client_is_dropped_by_the_heartbeat(server: LiveServer) -> None:
    async with connect(v2(server)) as ws:
        await recv_json(ws)
        ping = await recv_until(ws, lambda m: m["type"] == "ping", timeout=3)
        assert "ts" in ping
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await recv_json(ws, timeout=5)  # read, but never answer
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408
        assert time.monotonic() - started < 3


async def test_a_client_that_answers_pings_stays(server: LiveServer) -> None:
    async with connect(v2(server)) as ws:
        await recv_json(ws)
        deadline = time.monotonic() + 2.5  # five heartbeat intervals
        while time.monotonic() < deadline:
            message = await recv_json(ws, timeout=3)
            if message["type"] == "ping":
                await ws.send('{"type":"pong"}')
        server.agents.write("eeee5555")
        await recv_until(ws, lambda m: m["type"] == "delta")


async def test_client_ping_gets_a_pong(server: LiveServer) -> None:
    async with connect(v2(server)) as ws:
        await recv_json(ws)
        await ws.send('{"type":"ping","id":"p-1"}')
        pong = await recv_until(ws, lambda m: m["type"] == "pong")
        assert pong["id"] == "p-1"
        assert abs(pong["ts"] - time.time()) < 5


async def test_garbage_is_ignored_and_oversized_messages_close_1009(server: LiveServer) -> None:
    async with connect(v2(server), max_size=None) as ws:
        await recv_json(ws)
        await ws.send("not json {")
        await ws.send(b"\xff\xfe")
        await ws.send('{"type": 42}')
        await ws.send('{"type":"ping","id":2}')
        assert (await recv_until(ws, lambda m: m["type"] == "pong"))["id"] == 2
        await ws.send("x" * (65 * 1024))
        with pytest.raises(ConnectionClosed) as closed:
            await recv_until(ws, lambda m: False)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_a_slow_seed_client_is_not_dropped_for_the_changes_one_list_answers(
    patient_server: LiveServer,
) -> None:
    # --queue-size 4: a protocol-2 client 4 changes behind is dropped. A seed-format client
    # gets one whole list (~800 KB here) for any number of changes, so it is dropped only
    # when a list stays unread (--send-timeout-s), not for the changes that came meanwhile.
    server = patient_server
    for i in range(2000):
        server.agents.write(f"bulk{i:04d}", issue_number=i)
    async with connect(server.ws_url("/ws/workflows"), max_queue=1, max_size=None) as slow:
        await recv_until(slow, lambda m: len(m["data"]) == 2001, timeout=20)

        async def write_changes() -> None:
            for i in range(40):
                server.agents.write("ffff6666", issue_number=i)
                await asyncio.sleep(0.02)

        writer = asyncio.create_task(write_changes())
        while not writer.done():
            await recv_json(slow)
            await asyncio.sleep(0.3)  # a slow reader: changes pile up while it reads
        await recv_until(slow, lambda m: by_id(m).get("ffff6666", {}).get("issue_number") == 39)
    assert "fell too far behind" not in server.log()


async def test_a_client_that_never_reads_is_dropped_and_others_are_not(
    server: LiveServer,
) -> None:
    # 2,000 workflows make each seed-format message ~800 KB, so an unread socket fills fast.
    for i in range(2000):
        server.agents.write(f"bulk{i:04d}", issue_number=i)
    async with connect(server.ws_url("/ws/workflows"), max_size=None) as healthy:
        await recv_until(healthy, lambda m: len(m["data"]) == 2001, timeout=20)
        stuck = await connect(server.ws_url("/ws/workflows"), max_queue=1, max_size=None)
        for i in range(60):
            server.agents.write("ffff6666", issue_number=i)
            await recv_until(healthy, lambda m, i=i: by_id(m)["ffff6666"]["issue_number"] == i)
            if "fell too far behind" in server.log():
                break
        deadline = time.monotonic() + 10
        while "fell too far behind" not in server.log():
            assert time.monotonic() < deadline, "the stuck client was never dropped"
            await asyncio.sleep(0.1)
        await stuck.close()
