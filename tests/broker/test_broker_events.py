"""Agent events across Redis: real redis-server, real `livewatch agent` and replicas.

Host A's agent reads its transcripts and publishes their events to Redis's events stream; each
replica relays the stream into its event log under Redis's seqs. A hook posted to any replica
goes through Redis too. So every replica's `/ws/events` and `/stream` show every event, once,
with the same seq.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import recv_json
from redis_server import MISSING, REDIS_SERVER, AgentHost, RedisServer
from websockets.asyncio.client import ClientConnection, connect

from livewatch.broker.backoff import Backoff
from livewatch.broker.bus import PAYLOAD_MAX, Bus, fit_payload
from livewatch.broker.forward import EventForwarder
from livewatch.hub.events import new_event
from livewatch.testing import LiveServer

needs_redis = pytest.mark.skipif(REDIS_SERVER is None, reason=MISSING)

ADW = "e7e7e7e7"  # only on host A
SHARED = "5a5a5a5a"  # on both hosts: shown as SHARED@host-a and SHARED@host-b
HOOK_HEADERS = {"Content-Type": "application/json", "User-Agent": "Claude-Code-Hook/1.0"}


# -- transcript lines, as Claude Code writes them ---------------------------------------------


def bash(n: int, command: str) -> dict[str, Any]:
    block = {"type": "tool_use", "id": f"t{n}", "name": "Bash", "input": {"command": command}}
    usage = {"input_tokens": 100, "output_tokens": 10}
    message = {"id": f"m{n}", "role": "assistant", "model": "m", "content": [block], "usage": usage}
    return {"type": "assistant", "message": message, "session_id": "s"}


def append(path: Path, *lines: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write("".join(json.dumps(line) + "\n" for line in lines))


def transcript(host: AgentHost, adw_id: str = ADW, agent: str = "sdlc_planner") -> Path:
    return host.agents_dir / adw_id / agent / "raw_output.jsonl"


def hook_body(session: str, command: str, app: str = "my-app") -> dict[str, Any]:
    return {
        "source_app": app,
        "session_id": session,
        "hook_event_type": "PreToolUse",
        "payload": {"tool_name": "Bash", "tool_input": {"command": command}},
    }


# -- the cluster -------------------------------------------------------------------------------


@dataclass
class Cluster:
    redis: RedisServer
    host_a: AgentHost
    host_b: AgentHost
    replica_a: LiveServer
    replica_b: LiveServer

    @property
    def replicas(self) -> tuple[LiveServer, LiveServer]:
        return self.replica_a, self.replica_b


def start_all(*processes: LiveServer) -> None:
    with ThreadPoolExecutor(len(processes)) as pool:
        list(pool.map(lambda p: p.start(), processes))


def make_cluster(tmp_path: Path) -> Cluster:
    redis = RedisServer(tmp_path).start()
    hosts = []
    for label in ("host-a", "host-b"):
        (tmp_path / label).mkdir()
        hosts.append(AgentHost(tmp_path / label, redis, label, stale_after_s=10))
    host_a, host_b = hosts
    for host, adw_id in ((host_a, ADW), (host_a, SHARED), (host_b, SHARED)):
        host.agents.write(adw_id, issue_number=1)
        host.agents.advance(adw_id)  # plan: running
    replicas = []
    for name in ("replica-a", "replica-b"):
        (tmp_path / name).mkdir()
        replicas.append(LiveServer(tmp_path / name, args=["--broker", redis.url]))
    start_all(host_a, host_b)
    start_all(*replicas)
    return Cluster(redis, host_a, host_b, *replicas)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    if REDIS_SERVER is None:
        pytest.skip(MISSING)
    running = make_cluster(tmp_path)
    yield running
    processes = (running.replica_a, running.replica_b, running.host_a, running.host_b)
    with ThreadPoolExecutor(len(processes)) as pool:
        list(pool.map(lambda p: p.stop(), processes))
    running.redis.stop()


@dataclass
class Feed:
    """Everything one WebSocket receives, read in the background."""

    ws: ClientConnection
    messages: list[dict[str, Any]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        async for text in self.ws:
            self.messages.append(json.loads(text))

    def start(self) -> Feed:
        self.task = asyncio.create_task(self._read())
        return self

    async def close(self) -> None:
        await self.ws.close()
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)

    def events(self) -> list[dict[str, Any]]:
        """/ws/events: every event received, in order."""
        return [e for m in self.messages if m.get("type") == "events" for e in m["data"]]

    def hook_events(self) -> list[dict[str, Any]]:
        """/stream: every event received after the initial list, in order."""
        return [m["data"] for m in self.messages if m.get("type") == "event"]


async def open_feed(url: str) -> Feed:
    ws = await connect(url)
    feed = Feed(ws)
    feed.messages.append(await recv_json(ws))  # the first message, before anything new
    return feed.start()


async def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.05)


async def get(server: LiveServer, path: str) -> Any:
    return (await asyncio.to_thread(server.get, path)).json()


async def post_hook(server: LiveServer, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(
            f"{server.url}/events", content=json.dumps(body), headers=HOOK_HEADERS
        )


def summaries(events: list[dict[str, Any]], prefix: str) -> list[tuple[int, str]]:
    return [(e["seq"], e["summary"]) for e in events if e["summary"].startswith(prefix)]


async def record(server: LiveServer, adw_id: str) -> dict[str, Any]:
    return next((w for w in await get(server, "/api/workflows") if w["adw_id"] == adw_id), {})


# -- the bus alone ------------------------------------------------------------------------------


@needs_redis
async def test_the_events_stream_numbers_events_and_names_shared_workflows(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path).start()
    try:
        async with Bus(server.url) as bus:
            for host in ("a", "b"):
                await bus.publish(host, [{"adw_id": "s1"}], [], ttl_s=5)
            await bus.publish("a", [{"adw_id": "x1"}], [], ttl_s=5)
            events = [
                new_event(adw_id="x1", agent="p", kind="message", summary="one", seq=7),
                new_event(adw_id="s1", agent="p", kind="message", summary="two"),
                new_event(adw_id="s1@b", source="hook", kind="hook", summary="three"),
            ]
            epoch, seqs = await bus.publish_events("a", events[:2])
            # A new epoch starts at Redis's clock in microseconds; the agent's own seq is not sent.
            assert abs(seqs[0] / 1e6 - time.time()) < 60
            assert seqs[1] == seqs[0] + 1
            _, (third,) = await bus.publish_events("", events[2:])
            assert third == seqs[1] + 1
            read = await bus.read_events(seqs[0] - 1, block_ms=10)
            assert [(e.seq, e.epoch, e.host) for e in read] == [
                (seqs[0], epoch, "a"),
                (seqs[1], epoch, "a"),
                (third, epoch, ""),
            ]
            # s1 is on both hosts: host a's event names the record the merged list shows.
            assert [e.event["adw_id"] for e in read] == ["x1", "s1@a", "s1@b"]
            assert read[0].event["seq"] == seqs[0]
            # The hook post that joined host b's s1 goes to host b's activity stream, briefly.
            _, brief = await bus.read_activity("b", "0-0", block_ms=10)
            assert [(e["adw_id"], e["summary"]) for e in brief] == [("s1", "three")]
            assert "payload" not in brief[0]
            assert await bus.read_activity("a", "0-0", block_ms=10) == ("0-0", [])
            assert await bus.events_position() == (epoch, third, seqs[0])
            # A replica that holds higher numbers (Redis came back from an older save).
            assert await bus.raise_events_floor(third + 100)
            assert not await bus.raise_events_floor(third)
            _, (after_floor,) = await bus.publish_events("a", events[:1])
            assert after_floor == third + 101
    finally:
        server.stop()


def test_payloads_over_1_mib_are_cut_and_say_so() -> None:
    small = json.dumps({"payload": {"a": 1}})
    assert fit_payload(small) is small
    big = "x" * (3 * PAYLOAD_MAX)
    cut = fit_payload(big)
    assert len(cut.encode()) <= PAYLOAD_MAX
    assert cut.startswith("xxx") and cut.endswith("3145728 bytes in all]")
    # A hook with its whole chat: the body stays JSON, with the newest messages and a note.
    chat = [{"role": "user", "content": f"{i:05d}" + "y" * 10_000} for i in range(500)]
    body = {"session_id": "s", "payload": {"tool_name": "Bash"}, "chat": chat}
    fitted = json.loads(fit_payload(json.dumps(body)))
    assert len(json.dumps(fitted).encode()) <= PAYLOAD_MAX
    assert fitted["payload"] == {"tool_name": "Bash"}
    kept = fitted["chat"][1:]
    assert 50 < len(kept) < 500 and kept[-1] == chat[-1] and kept[0] == chat[-len(kept)]
    assert fitted["chat"][0] == {
        "livewatch": f"{500 - len(kept)} older messages left out (1 MiB cap)"
    }


# -- agents and replicas -----------------------------------------------------------------------


async def test_transcript_lines_reach_every_replica_once_with_the_same_seqs(
    cluster: Cluster,
) -> None:
    feeds = [await open_feed(r.ws_url("/ws/events")) for r in cluster.replicas]
    try:
        lines = [bash(i, f"make step-{i:02d}") for i in range(20)]
        for i in range(0, 20, 5):
            append(transcript(cluster.host_a), *lines[i : i + 5])
            await asyncio.sleep(0.05)
        await eventually(lambda: all(len(summaries(f.events(), "make step")) >= 20 for f in feeds))
        await asyncio.sleep(0.3)  # time for a duplicate, were there one
        seen_a, seen_b = (summaries(f.events(), "make step") for f in feeds)
        assert seen_a == seen_b  # the same events, the same seqs, in the same order
        assert [s for _, s in seen_a] == [f"make step-{i:02d}" for i in range(20)]
        assert [q for q, _ in seen_a] == sorted({q for q, _ in seen_a})  # once each, growing
        assert feeds[0].messages[0]["epoch"] == feeds[1].messages[0]["epoch"]
    finally:
        for feed in feeds:
            await feed.close()

    # Both replicas stored them, under those seqs.
    for replica in cluster.replicas:
        stored = await get(replica, "/api/events?q=make+step&limit=100")
        assert sorted((e["seq"], e["summary"]) for e in stored) == seen_a

    # The workflow's "now" and tokens: folded in by the agent, published with the record, so
    # the same on every replica under Redis's seqs.
    await eventually(lambda: _now_summary(cluster.replica_b, ADW, "make step-19"), timeout=5)
    in_redis = json.loads(cluster.redis.client().hget("livewatch:records:host-a", ADW) or "{}")
    assert in_redis["now"]["summary"] == "make step-19"
    running = await record(cluster.replica_b, ADW)
    assert running["tokens"] == {"in": 2000, "out": 200}
    assert running["now"]["agent"] == "sdlc_planner"

    # Both replicas converge on the same list, numbered alike; not at the same instant, since
    # a later update of a record may reach one replica a moment before the other.
    async def same_lists() -> bool:
        a, b = [await asyncio.to_thread(r.get, "/api/workflows") for r in cluster.replicas]
        return a.text == b.text and a.headers["etag"] == b.headers["etag"]

    await eventually(same_lists, timeout=5)


async def _now_summary(server: LiveServer, adw_id: str, summary: str) -> bool:
    now = (await record(server, adw_id)).get("now") or {}
    return now.get("summary") == summary


async def test_a_restarted_replica_catches_up_and_a_client_resumes_on_it(
    cluster: Cluster,
) -> None:
    path = transcript(cluster.host_a)
    async with connect(cluster.replica_b.ws_url("/ws/events")) as ws:
        first = await recv_json(ws)
        append(path, bash(1, "make early"))
        seen = await recv_json(ws)
        assert [e["summary"] for e in seen["data"]] == ["make early"]
    await eventually(lambda: _count(cluster.replica_a, "make+early", 1))
    await asyncio.to_thread(cluster.replica_a.stop)
    append(path, bash(2, "make while-a-was-down"), bash(3, "make late"))
    await eventually(lambda: _count(cluster.replica_b, "make+late", 1))
    await asyncio.to_thread(cluster.replica_a.start)
    # It reads on after its store's newest event: what it missed, nothing twice.
    await eventually(lambda: _count(cluster.replica_a, "make+late", 1))
    stored = await get(cluster.replica_a, "/api/events?q=make&limit=100")
    assert sorted(e["summary"] for e in stored) == [
        "make early",
        "make late",
        "make while-a-was-down",
    ]
    # Numbered alike, under one epoch: a client of replica B resumes on replica A.
    resume = f"/ws/events?since={seen['seq']}&epoch={first['epoch']}"
    async with connect(cluster.replica_a.ws_url(resume)) as ws:
        missed = await recv_json(ws)
    assert missed.get("resumed") is True
    assert [e["summary"] for e in missed["data"]] == ["make while-a-was-down", "make late"]


async def test_an_id_on_two_hosts_gets_its_events_and_now_under_the_shown_id(
    cluster: Cluster,
) -> None:
    append(transcript(cluster.host_a, SHARED), bash(1, "make shared-a"))
    shown = f"{SHARED}@host-a"
    events = await eventually(lambda: get(cluster.replica_a, "/api/events?q=shared-a"), timeout=10)
    assert [e["adw_id"] for e in events] == [shown]
    await eventually(lambda: _now_summary(cluster.replica_b, shown, "make shared-a"))
    assert (await record(cluster.replica_b, f"{SHARED}@host-b"))["now"] is None


async def test_a_hook_posted_to_replica_a_shows_on_replica_b_once(cluster: Cluster) -> None:
    events_b = await open_feed(cluster.replica_b.ws_url("/ws/events"))
    stream_b = await open_feed(cluster.replica_b.ws_url("/stream"))
    stream_a = await open_feed(cluster.replica_a.ws_url("/stream"))
    try:
        started = time.monotonic()
        answer = await post_hook(cluster.replica_a, hook_body("sess-1", "echo hooked", app=ADW))
        assert answer.status_code == 200, answer.text
        assert time.monotonic() - started < 2
        seq = answer.json()["id"]
        await eventually(lambda: [e for e in events_b.events() if e["seq"] == seq])
        await eventually(lambda: [e for e in stream_b.hook_events() if e["id"] == seq])
        await eventually(lambda: [e for e in stream_a.hook_events() if e["id"] == seq])
        await asyncio.sleep(0.3)  # time for a duplicate, were there one
        [on_b] = [e for e in events_b.events() if e["summary"] == "echo hooked"]
        assert (on_b["seq"], on_b["source"], on_b["adw_id"]) == (seq, "hook", ADW)
        [shaped] = [e for e in stream_b.hook_events() if e["id"] == seq]
        assert shaped["payload"]["tool_input"]["command"] == "echo hooked"
        assert len([e for e in stream_a.hook_events() if e["id"] == seq]) == 1
    finally:
        for feed in (events_b, stream_b, stream_a):
            await feed.close()
    stored = await get(cluster.replica_b, f"/api/events/{seq}")
    assert stored["payload"]["payload"]["tool_input"]["command"] == "echo hooked"
    # It joined host A's workflow (source_app is its adw id): its "now" on every replica.
    await eventually(lambda: _now_summary(cluster.replica_b, ADW, "echo hooked"))


async def test_an_agent_restart_or_a_repeated_publish_adds_no_duplicate(
    cluster: Cluster,
) -> None:
    path = transcript(cluster.host_a)
    append(path, *(bash(i, f"make once-{i}") for i in range(5)))
    await eventually(lambda: _count(cluster.replica_b, "make+once", 5))

    # Stopped cleanly, killed: either way it reads on from what Redis has.
    for restart in (cluster.host_a.stop, cluster.host_a.kill):
        await asyncio.to_thread(restart)
        await asyncio.to_thread(cluster.host_a.start)
    append(path, bash(9, "make once-9"))
    await eventually(lambda: _count(cluster.replica_b, "make+once", 6))

    # A line published twice (an agent killed between its publish and its offsets): the
    # replicas keep the first.
    twice = new_event(
        source="file",
        adw_id=ADW,
        agent="sdlc_planner",
        kind="message",
        summary="make twice",
        origin="host-a:file:e7e7e7e7/sdlc_planner@999999",
    )
    async with Bus(cluster.redis.url) as bus:
        _, (first,) = await bus.publish_events("host-a", [twice])
        _, (second,) = await bus.publish_events("host-a", [twice])
    append(path, bash(10, "make after-twice"))  # the replicas have read past both
    for replica in cluster.replicas:
        await eventually(lambda r=replica: _count(r, "make+after-twice", 1))
        assert [e["seq"] for e in await get(replica, "/api/events?q=make+twice")] == [first]
        stored = await get(replica, "/api/events?q=make+once&limit=100")
        assert sorted(e["summary"] for e in stored) == [
            f"make once-{i}" for i in (0, 1, 2, 3, 4, 9)
        ]
        health = await get(replica, "/healthz")
        assert health["broker"]["events"]["duplicates"] >= 1
    assert second == first + 1


async def _count(server: LiveServer, query: str, n: int) -> bool:
    return len(await get(server, f"/api/events?q={query}&limit=100")) >= n


async def test_a_redis_restart_degrades_then_events_resume(cluster: Cluster) -> None:
    path = transcript(cluster.host_a)
    feed = await open_feed(cluster.replica_b.ws_url("/ws/events"))
    try:
        append(path, bash(1, "make before"))
        await eventually(lambda: summaries(feed.events(), "make before"))

        cluster.redis.kill()  # a crash: Redis loses everything

        async def all_report(status: str) -> bool:
            reports = [await get(r, "/healthz") for r in cluster.replicas]
            return all(h["status"] == status for h in reports)

        await eventually(lambda: all_report("degraded"), timeout=5)
        health = await get(cluster.replica_a, "/healthz")
        assert health["broker"]["events"]["state"] == "degraded"
        # A hook cannot be shown everywhere now: not accepted.
        refused = await post_hook(cluster.replica_a, hook_body("sess-2", "echo refused"))
        assert refused.status_code == 503
        assert refused.json()["error"] == "not stored"
        # Lines written meanwhile wait in the agent.
        append(path, bash(2, "make during"))
        await asyncio.sleep(0.5)

        cluster.redis.start()
        await eventually(lambda: all_report("ok"), timeout=15)
        await eventually(lambda: summaries(feed.events(), "make during"), timeout=10)
        append(path, bash(3, "make after"))
        await eventually(lambda: summaries(feed.events(), "make after"), timeout=10)
        answer = await post_hook(cluster.replica_a, hook_body("sess-2", "echo accepted"))
        assert answer.status_code == 200, answer.text
        await eventually(lambda: summaries(feed.events(), "echo accepted"))
        await asyncio.sleep(0.3)
        seen = summaries(feed.events(), "make ")
        assert [s for _, s in seen] == ["make before", "make during", "make after"]
        assert [q for q, _ in seen] == sorted(q for q, _ in seen)
        assert not summaries(feed.events(), "echo refused")
    finally:
        await feed.close()
    for replica in cluster.replicas:
        stored = await get(replica, "/api/events?q=make&limit=100")
        assert sorted(e["summary"] for e in stored) == ["make after", "make before", "make during"]


# -- the agent's forwarder ----------------------------------------------------------------------


def line_events(*summaries: str) -> list[Any]:
    return [
        new_event(source="file", adw_id=ADW, agent="p", kind="message", summary=s, seq=i)
        for i, s in enumerate(summaries)
    ]


def test_while_redis_is_down_the_forwarder_keeps_the_newest_events_and_every_offset() -> None:
    saved: list[dict[str, tuple[int, int]]] = []
    forwarder = EventForwarder("redis://127.0.0.1:9", "host-a", saved.append, max_events=3)
    forwarder.add(line_events("one", "two"))
    forwarder.add_offsets({"f": (1, 10)})
    forwarder.add(line_events("three", "four"))
    forwarder.add_offsets({"f": (1, 20)})
    forwarder.add_offsets({"g": (2, 5)})  # merged with the offsets before it
    assert (forwarder.queued, forwarder.dropped) == (3, 1)
    queue = list(forwarder._queue)
    assert [e["summary"] for e in queue[0]] == ["two"]
    assert queue[1] == {"f": (1, 10)}
    assert [e["summary"] for e in queue[2]] == ["three", "four"]
    assert queue[3] == {"f": (1, 20), "g": (2, 5)}
    assert "seq" not in queue[0][0]  # Redis numbers them


@needs_redis
async def test_offsets_are_saved_only_once_the_events_before_them_are_in_redis(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path)  # not started yet
    saved: list[dict[str, tuple[int, int]]] = []
    forwarder = EventForwarder(server.url, "host-a", saved.append)
    forwarder.backoff = Backoff(first=0.05, cap=0.1)
    batch = line_events("one", "two")
    batch[0]["origin"] = "file:e7e7e7e7/p@0"
    forwarder.add(batch)
    forwarder.add_offsets({"f": (1, 10)})
    stop = asyncio.Event()
    running = asyncio.create_task(forwarder.run(stop))
    try:
        await asyncio.sleep(0.3)
        assert (forwarder.broker_state, saved, forwarder.queued) == ("degraded", [], 2)
        await asyncio.to_thread(server.start)
        await eventually(lambda: saved == [{"f": (1, 10)}], timeout=5)
        async with Bus(server.url) as bus:
            read = await bus.read_events(0, block_ms=10)
        assert [(e.host, e.event["summary"]) for e in read] == [
            ("host-a", "one"),
            ("host-a", "two"),
        ]
        # Two hosts may have the same adw id, agent and offset: the origin names the host.
        assert read[0].event["origin"] == "host-a:file:e7e7e7e7/p@0"
    finally:
        stop.set()
        await running
        server.stop()
