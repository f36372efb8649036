"""Many agent hosts, many replicas, one Redis: real redis-server, real livewatch processes.

Host A and host B each run `livewatch agent` on their own agents dir; replicas A and B run
`livewatch serve --broker`. A browser-like WebSocket client on either replica sees every
host's workflows, with protocol 2's seqs and resume working across replicas and restarts.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import Message, by_id, recv_json, recv_until
from redis_server import MISSING, REDIS_SERVER, AgentHost, RedisServer
from websockets.asyncio.client import connect

from livewatch.broker.backoff import Backoff
from livewatch.broker.bus import Bus
from livewatch.broker.merge import HostMerge
from livewatch.testing import LiveServer

needs_redis = pytest.mark.skipif(REDIS_SERVER is None, reason=MISSING)


def start_all(*processes: LiveServer) -> None:
    """Start child processes side by side: each spends most of its start importing."""
    with ThreadPoolExecutor(len(processes)) as pool:
        list(pool.map(lambda p: p.start(), processes))


@dataclass
class Cluster:
    redis: RedisServer
    host_a: AgentHost
    host_b: AgentHost
    replica_a: LiveServer
    replica_b: LiveServer


def make_cluster(tmp_path: Path, stale_after_s: float = 10.0) -> Cluster:
    redis = RedisServer(tmp_path).start()
    hosts = []
    for label in ("host-a", "host-b"):
        (tmp_path / label).mkdir()
        hosts.append(AgentHost(tmp_path / label, redis, label, stale_after_s))
    host_a, host_b = hosts
    host_a.agents.write("aaaa1111", issue_number=1)
    host_a.agents.write("same0001", issue_number=2)
    host_b.agents.write("bbbb2222", issue_number=3)
    host_b.agents.write("same0001", issue_number=4)  # the same adw id on both hosts
    replicas = []
    for name in ("replica-a", "replica-b"):
        (tmp_path / name).mkdir()  # a replica reads no agents dir; this one stays empty
        args = ["--broker", redis.url, "--stale-after-s", str(stale_after_s)]
        replicas.append(LiveServer(tmp_path / name, args=args))
    start_all(host_a, host_b)
    start_all(*replicas)
    return Cluster(redis, host_a, host_b, *replicas)


def stop_cluster(cluster: Cluster) -> None:
    processes = (cluster.replica_a, cluster.replica_b, cluster.host_a, cluster.host_b)
    with ThreadPoolExecutor(len(processes)) as pool:
        list(pool.map(lambda p: p.stop(), processes))
    cluster.redis.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    if REDIS_SERVER is None:
        pytest.skip(MISSING)
    running = make_cluster(tmp_path)
    yield running
    stop_cluster(running)


def v2(server: LiveServer, **query: object) -> str:
    params = "&".join(f"{k}={v}" for k, v in {"protocol": 2, **query}.items())
    return server.ws_url(f"/ws/workflows?{params}")


async def get(server: LiveServer, path: str) -> Any:
    return await asyncio.to_thread(server.get, path)


async def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll an async check until it returns something truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.05)


def shown(message: Message) -> dict[str, Message]:
    """The records a snapshot or delta carries, by their shown id."""
    return by_id({"data": message.get("data", message.get("upsert", []))})


def issue_of(message: Message, adw_id: str) -> int | None:
    return shown(message).get(adw_id, {}).get("issue_number")


# -- the merged view, without Redis ----------------------------------------------------------


def test_ids_that_collide_across_hosts_are_shown_once_per_host() -> None:
    merge = HostMerge()
    view = merge.load({"a": [{"adw_id": "x1"}, {"adw_id": "s1"}], "b": [{"adw_id": "s1"}]}, [])
    assert sorted(r["adw_id"] for r in view) == ["s1@a", "s1@b", "x1"]
    # Host b drops its s1: host a's is the only one left and gets its plain id back.
    change = merge.apply("b", remove=["s1"])
    assert change.remove == ["s1@a", "s1@b"]
    assert [(r["adw_id"], r["host"]) for r in change.upsert] == [("s1", "a")]


def test_a_stale_host_flags_every_record_it_has() -> None:
    merge = HostMerge()
    merge.load({"a": [{"adw_id": "x1"}, {"adw_id": "x2"}], "b": [{"adw_id": "y1"}]}, [])
    change = merge.apply("a", stale=True)
    assert sorted((r["adw_id"], r["stale"]) for r in change.upsert) == [("x1", True), ("x2", True)]
    assert merge.apply("a", stale=True).upsert == []  # already stale: nothing new
    assert [r["stale"] for r in merge.apply("a", stale=False).upsert] == [False, False]


def test_backoff_grows_to_its_cap_with_jitter() -> None:
    backoff = Backoff(first=0.1, cap=1.0, jitter=lambda: 0.5)  # 0.5 + 0.5: no scaling
    assert [round(backoff.next(), 3) for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    backoff.reset()
    assert backoff.next() == pytest.approx(0.1)
    spread = Backoff(first=1.0, cap=1.0)
    assert all(0.5 <= spread.next() <= 1.5 for _ in range(100))


# -- the bus, against a real redis-server --------------------------------------------------


@needs_redis
async def test_only_real_changes_are_numbered_and_the_stream_has_no_gaps(tmp_path: Path) -> None:
    server = RedisServer(tmp_path).start()
    try:
        async with Bus(server.url) as bus:
            record = {"adw_id": "aaaa1111", "issue_number": 1}
            epoch, first = await bus.publish("h1", [record], [], ttl_s=5)
            # A new epoch starts at Redis's clock in microseconds, above any older epoch's seqs.
            assert abs(first / 1e6 - time.time()) < 60
            assert await bus.publish("h1", [record], [], ttl_s=5) == (epoch, first)  # unchanged
            _, second = await bus.publish("h1", [{**record, "issue_number": 2}], [], ttl_s=5)
            _, third = await bus.publish("h1", [], [], sync=True, ttl_s=5)  # h1 has nothing now
            assert (second, third) == (first + 1, first + 2)
            entries = await bus.read(first - 1, block_ms=10)
            assert [e.seq for e in entries] == [first, second, third]
            assert entries[-1].remove == ["aaaa1111"]
            snapshot = await bus.snapshot()
            assert (snapshot.epoch, snapshot.seq, snapshot.records) == (epoch, third, {"h1": []})
    finally:
        server.stop()


# -- hosts and replicas ----------------------------------------------------------------------


async def test_a_change_on_host_a_reaches_a_client_on_replica_b(cluster: Cluster) -> None:
    async with connect(v2(cluster.replica_b)) as ws:
        snapshot = await recv_json(ws)
        assert sorted(shown(snapshot)) == [
            "aaaa1111",
            "bbbb2222",
            "same0001@host-a",
            "same0001@host-b",
        ]
        assert shown(snapshot)["aaaa1111"]["host"] == "host-a"

        started = time.monotonic()
        cluster.host_a.agents.write("aaaa1111", issue_number=42)
        delta = await recv_until(ws, lambda m: issue_of(m, "aaaa1111") == 42)
        assert time.monotonic() - started < 1.0  # the watcher's debounce and one Redis hop
        assert delta["seq"] > snapshot["seq"]

    # Both replicas hold the same list at the same position.
    async def same_on_both() -> bool:
        a, b = (
            await get(cluster.replica_a, "/api/workflows"),
            await get(cluster.replica_b, "/api/workflows"),
        )
        return a.text == b.text and a.headers["etag"] == b.headers["etag"]

    await eventually(same_on_both, timeout=2)


async def test_a_shared_id_is_namespaced_only_while_it_collides(cluster: Cluster) -> None:
    async with connect(v2(cluster.replica_a)) as ws:
        snapshot = await recv_json(ws)
        assert shown(snapshot)["same0001@host-a"]["issue_number"] == 2
        assert shown(snapshot)["same0001@host-b"]["issue_number"] == 4
        # A replica has no agents dir: the detail is the record itself, under its shown id.
        detail = (await get(cluster.replica_a, "/api/workflows/same0001@host-b")).json()
        assert (detail["host"], detail["issue_number"], detail["state"]) == ("host-b", 4, {})

        cluster.host_b.agents.remove("same0001")
        delta = await recv_until(ws, lambda m: "same0001" in shown(m))
        assert delta["remove"] == ["same0001@host-a", "same0001@host-b"]
        assert [(r["adw_id"], r["host"]) for r in delta["upsert"]] == [("same0001", "host-a")]


async def test_a_client_that_moves_to_another_replica_resumes(cluster: Cluster) -> None:
    async with connect(v2(cluster.replica_a)) as ws:
        before = await recv_json(ws)
    cluster.host_b.agents.write("cccc3333", issue_number=5)  # missed while away
    await eventually(lambda: get_ids(cluster.replica_b, "cccc3333"))
    async with connect(v2(cluster.replica_b, since=before["seq"], epoch=before["epoch"])) as ws:
        first = await recv_json(ws)
        assert first["type"] == "delta"
        assert [r["adw_id"] for r in first["upsert"]] == ["cccc3333"]


async def get_ids(server: LiveServer, adw_id: str) -> bool:
    return adw_id in by_id({"data": (await get(server, "/api/workflows")).json()})


async def test_a_restarted_replica_loads_the_state_from_redis(cluster: Cluster) -> None:
    async with connect(v2(cluster.replica_a)) as ws:
        before = await recv_json(ws)
    cluster.replica_a.stop()
    cluster.host_a.agents.write("dddd4444", issue_number=6)  # while replica A is down
    await eventually(lambda: get_ids(cluster.replica_b, "dddd4444"))
    await asyncio.to_thread(cluster.replica_a.start)
    async with connect(v2(cluster.replica_a, since=before["seq"], epoch=before["epoch"])) as ws:
        after = await recv_json(ws)
    # Its history started over, so a fresh snapshot; the epoch and the seqs are Redis's.
    assert after["type"] == "snapshot"
    assert after["epoch"] == before["epoch"]
    assert "dddd4444" in shown(after)
    b = await get(cluster.replica_b, "/api/workflows")
    assert after["seq"] == int(b.headers["x-livewatch-seq"])
    assert after["data"] == b.json()


async def test_a_redis_restart_is_survived(cluster: Cluster) -> None:
    replicas = (cluster.replica_a, cluster.replica_b)
    async with connect(v2(cluster.replica_b)) as ws:
        before = await recv_json(ws)

        cluster.redis.kill()  # a crash: everything in Redis is lost

        async def all_report(status: str) -> bool:
            reports = [(await get(r, "/healthz")).json() for r in replicas]
            return all(h["status"] == status for h in reports)

        await eventually(lambda: all_report("degraded"), timeout=5)
        health = (await get(cluster.replica_a, "/healthz")).json()
        assert health["broker"]["state"] == "degraded"
        assert health["broker"]["hosts"] == 2  # still serving the last state

        cluster.redis.start()
        await eventually(lambda: all_report("ok"), timeout=10)
        # The agents published everything again; the replicas took the new epoch.
        lists = [(await get(r, "/api/workflows")) for r in replicas]
        assert lists[0].json() == lists[1].json()
        assert sorted(by_id({"data": lists[0].json()})) == sorted(shown(before))
        assert lists[0].headers["x-livewatch-epoch"] != before["epoch"]

        # The client that stayed connected keeps receiving changes, numbered higher.
        cluster.host_a.agents.write("aaaa1111", issue_number=77)
        delta = await recv_until(ws, lambda m: issue_of(m, "aaaa1111") == 77, timeout=5)
        assert delta["seq"] > before["seq"]

    # One that resumes with the old epoch gets a fresh snapshot.
    async with connect(v2(cluster.replica_a, since=before["seq"], epoch=before["epoch"])) as ws:
        again = await recv_json(ws)
    assert again["type"] == "snapshot"
    assert shown(again)["aaaa1111"]["issue_number"] == 77


@needs_redis
async def test_a_dead_host_goes_stale_after_the_timeout(tmp_path: Path) -> None:
    cluster = await asyncio.to_thread(make_cluster, tmp_path, 1.5)
    try:
        async with connect(v2(cluster.replica_a)) as ws:
            await recv_json(ws)
            killed = time.monotonic()  # before: the kill returns once the process is reaped
            cluster.host_a.kill()  # SIGKILL: no goodbye, the heartbeat just stops
            delta = await recv_until(ws, lambda m: "aaaa1111" in shown(m), timeout=5)
            waited = time.monotonic() - killed
            # The last heartbeat was at most a third of the timeout (0.5 s) before the kill, so
            # 1.0 s at the least; a loaded CI machine read 0.99 s, so half the timeout it is.
            assert waited > 0.75
            stale = {r["adw_id"]: r["stale"] for r in delta["upsert"]}
            assert stale == {"aaaa1111": True, "same0001@host-a": True}
            listed = (await get(cluster.replica_b, "/api/workflows")).json()
            assert {r["adw_id"] for r in listed if r["stale"]} == set(stale)
            assert (await get(cluster.replica_b, "/healthz")).json()["broker"]["stale_hosts"] == 1

            # The host comes back: its records are live again.
            await asyncio.to_thread(cluster.host_a.start)
            delta = await recv_until(ws, lambda m: "aaaa1111" in shown(m), timeout=5)
            assert {r["adw_id"]: r["stale"] for r in delta["upsert"]} == {
                "aaaa1111": False,
                "same0001@host-a": False,
            }
    finally:
        await asyncio.to_thread(stop_cluster, cluster)


@needs_redis
async def test_a_replica_started_without_redis_serves_degraded_then_catches_up(
    tmp_path: Path,
) -> None:
    redis = RedisServer(tmp_path)  # not started yet
    (tmp_path / "replica").mkdir()
    replica = LiveServer(tmp_path / "replica", args=["--broker", redis.url])
    (tmp_path / "host").mkdir()
    host = AgentHost(tmp_path / "host", redis, "host-a", stale_after_s=10)
    host.agents.write("aaaa1111")
    try:
        await asyncio.to_thread(replica.start)
        health = (await get(replica, "/healthz")).json()
        assert (health["status"], health["broker"]["state"]) == ("degraded", "degraded")
        redis.start()
        await asyncio.to_thread(host.start)
        await eventually(lambda: get_ids(replica, "aaaa1111"), timeout=10)
        assert (await get(replica, "/healthz")).json()["status"] == "ok"
    finally:
        replica.stop()
        host.stop()
        redis.stop()


def test_an_agent_without_a_broker_says_so(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "livewatch", "agent", "--agents-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "--broker" in done.stderr
