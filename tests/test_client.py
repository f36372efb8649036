"""The Python client and `livewatch tail` against a real server, through a real proxy."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import serving
from proxy import Proxy

from livewatch.client import ClientState, EventStream, LiveClient, Update
from livewatch.testing import LiveServer


@pytest.fixture
def server(tmp_path: Path) -> LiveServer:
    with serving(tmp_path, "aaaa1111", issue_number=1) as live:
        yield live


async def test_client_keeps_the_current_list(server: LiveServer) -> None:
    async with LiveClient(server.url) as client:
        await client.wait_for(lambda r: "aaaa1111" in r)
        assert client.state is ClientState.LIVE
        server.agents.write("bbbb2222", issue_number=2)
        records = await client.wait_for(lambda r: "bbbb2222" in r)
        assert records["bbbb2222"]["issue_number"] == 2
        server.agents.remove("aaaa1111")
        await client.wait_for(lambda r: "aaaa1111" not in r)
        assert client.last_update is not None and time.time() - client.last_update < 5


async def test_client_follows_routes_too(server: LiveServer) -> None:
    async with LiveClient(server.url, "routes") as client:
        records = await client.wait_for(lambda r: "GET /api/workflows" in r)
        assert records["WS /ws/workflows"]["handler"] == "workflows_socket"


async def test_client_polls_rest_while_websockets_are_refused_then_goes_live(
    server: LiveServer,
) -> None:
    async with Proxy(server.port) as proxy:
        proxy.block_websockets = True
        client = LiveClient(proxy.url, poll_interval=0.3, max_backoff=0.5)
        async with client:
            await client.wait_for(lambda r: "aaaa1111" in r)
            assert client.state is ClientState.POLLING
            server.agents.write("cccc3333")
            await client.wait_for(lambda r: "cccc3333" in r)
            assert client.state is ClientState.POLLING

            proxy.block_websockets = False
            server.agents.write("dddd4444")
            await client.wait_for(lambda r: "dddd4444" in r and client.state is ClientState.LIVE)


async def test_client_resumes_with_only_the_missed_deltas(server: LiveServer) -> None:
    updates: list[Update] = []
    async with Proxy(server.port) as proxy:
        client = LiveClient(proxy.url, first_backoff=0.5, on_update=updates.append)
        async with client:
            await client.wait_for(lambda r: "aaaa1111" in r and client.state is ClientState.LIVE)
            proxy.block_websockets = True  # hold the client off while things change
            proxy.drop_all()
            server.agents.write("eeee5555")
            await asyncio.sleep(0.3)
            updates.clear()
            proxy.block_websockets = False
            await client.wait_for(lambda r: "eeee5555" in r and client.state is ClientState.LIVE)
    kinds = [u.kind for u in updates if u.upsert or u.remove]
    assert "snapshot" not in kinds, kinds


async def test_client_recovers_after_the_server_is_killed(server: LiveServer) -> None:
    async with LiveClient(server.url, first_backoff=0.1, max_backoff=0.5) as client:
        await client.wait_for(lambda r: "aaaa1111" in r)
        server.kill()
        await client.wait_for(lambda r: client.state is not ClientState.LIVE, timeout=5)
        server.agents.write("ffff6666")
        server.start()
        records = await client.wait_for(
            lambda r: "ffff6666" in r and client.state is ClientState.LIVE, timeout=10
        )
        assert set(records) == {"aaaa1111", "ffff6666"}


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    client = LiveClient("http://127.0.0.1:1", first_backoff=0.25, max_backoff=5.0)
    assert all(0.125 <= client.backoff(0) <= 0.375 for _ in range(50))
    assert all(client.backoff(10) <= 5.0 for _ in range(50))
    assert len({round(client.backoff(3), 6) for _ in range(20)}) > 1


def test_tail_prints_changes_as_they_happen(server: LiveServer) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    tail = subprocess.Popen(
        [sys.executable, "-m", "livewatch", "tail", server.url],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert tail.stdout is not None
        assert "[live]" in tail.stdout.readline()
        assert "snapshot: 1 workflows" in tail.stdout.readline()
        server.agents.write("abcd1234", issue_number=77)
        line = tail.stdout.readline()
        assert "+ abcd1234 #77 plan" in line, line
    finally:
        tail.terminate()
        tail.wait(5)


def bash_line(msg_id: str, command: str) -> dict:
    block = {"type": "tool_use", "id": f"t-{msg_id}", "name": "Bash", "input": {"command": command}}
    return {"type": "assistant", "message": {"id": msg_id, "role": "assistant", "content": [block]}}


async def test_event_stream_follows_and_resumes_without_repeats(server: LiveServer) -> None:
    server.agents.stream("aaaa1111", "sdlc_implementor", [bash_line("m1", "pytest -x")])
    stream = EventStream(server.url, tool="Bash")
    seen: list[dict] = []

    async def follow() -> None:
        async for event in stream:
            seen.append(event)

    task = asyncio.create_task(follow())
    try:
        await wait_until(lambda: [e["summary"] for e in seen] == ["pytest -x"])
        server.kill()  # the stream retries with backoff meanwhile
        server.agents.stream("aaaa1111", "sdlc_implementor", [bash_line("m2", "make lint")])
        server.start()
        await wait_until(lambda: "make lint" in [e["summary"] for e in seen], timeout=20)
    finally:
        task.cancel()
    summaries = [e["summary"] for e in seen]
    assert summaries == ["pytest -x", "make lint"]  # once each, across a restart
    assert [e["seq"] for e in seen] == sorted({e["seq"] for e in seen})


async def wait_until(probe, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def test_tail_events_prints_each_event(server: LiveServer) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    tail = subprocess.Popen(
        [sys.executable, "-m", "livewatch", "tail", server.url, "--events", "--tool", "Bash"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        time.sleep(1.5)  # connected and given the (empty) first window
        server.agents.stream("aaaa1111", "test_runner", [bash_line("m3", "pytest -q")])
        assert tail.stdout is not None
        line = tail.stdout.readline()
        assert " aaaa1111 test_runner tool_use Bash  pytest -q" in line, line
    finally:
        tail.terminate()
        tail.wait(5)
