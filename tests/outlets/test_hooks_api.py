"""Claude Code hooks in, the hooks dashboard's API out, against a real server.

The bodies in tests/fixtures/hooks/ are what disler's `send_event.py` posts, one per hook type
(`json.dumps` of its dict, with its headers). Reads go through `/events/recent`,
`/events/filter-options`, `WS /stream` (their client's API) and `/api/events` (ours).
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import recv_json, wait_for
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from livewatch.testing import LiveServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hooks"
HOOK_TYPES = sorted(p.stem for p in FIXTURES.glob("*.json"))
# send_event.py's request, header for header.
HEADERS = {"Content-Type": "application/json", "User-Agent": "Claude-Code-Hook/1.0"}
ADW = "c0ffee01"
TOKEN = "hook-token-Qm9vYmF6cXV1eA"
# Secrets inside the recorded bodies: a curl header, and an `env` dump's output.
SECRETS = (
    "sk-ant-api03-Zx9TqLm4Vb7Nc2Hd8Kf3Wp6Yr1Js5Ga0",
    "ghp_R2d2C3poBb8Yx7Wq6Ve5Ut4Sr3Qp2On1Mm0",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "hunter2hunter2",
)


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def body_of(name: str, **changes: Any) -> dict[str, Any]:
    return {**json.loads(fixture(name)), **changes}


def post(server: LiveServer, body: bytes | dict[str, Any], path: str = "/events", **kw: Any):  # type: ignore[no-untyped-def]
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {**HEADERS, **kw.pop("headers", {})}
    return httpx.post(f"{server.url}{path}", content=content, headers=headers, timeout=10, **kw)


def start(tmp_path: Path, *args: str) -> LiveServer:
    agents = tmp_path / "agents"
    agents.mkdir(exist_ok=True)
    return LiveServer(agents, args=list(args))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = start(tmp_path)
    # A running workflow with a worktree, as adw_state.json records it.
    live.agents.write(ADW, issue_number=7, worktree_path=str(tmp_path / "trees" / ADW))
    live.agents.advance(ADW)
    live.start()
    yield live
    live.stop()


# -- every hook type, everywhere ----------------------------------------------------------------


async def test_every_recorded_hook_posts_and_shows_in_every_read(server: LiveServer) -> None:
    async with connect(server.ws_url("/stream"), max_size=None) as ws:
        initial = await recv_json(ws)
        assert initial == {"type": "initial", "data": []}
        answers = {}
        for name in HOOK_TYPES:
            response = post(server, fixture(name))
            assert response.status_code == 200, response.text
            answers[name] = response.json()
        live = [await recv_json(ws) for _ in HOOK_TYPES]

    ids = [answers[name]["id"] for name in HOOK_TYPES]
    assert all(isinstance(i, int) for i in ids) and ids == sorted(ids)
    for name in HOOK_TYPES:
        sent, answer = json.loads(fixture(name)), answers[name]
        assert answer["source_app"] == sent["source_app"]
        assert answer["session_id"] == sent["session_id"]
        assert answer["hook_event_type"] == name
        assert answer["timestamp"] == sent["timestamp"]
        assert answer["payload"]["hook_event_name"] == name
        assert answer.get("tool_name") == sent.get("tool_name")
        assert answer.get("model_name") == (sent["model_name"] or None)
        assert "chat" not in answer
    assert (
        answers["UserPromptSubmit"]["summary"] == json.loads(fixture("UserPromptSubmit"))["summary"]
    )  # the sender's own summary, when it sent one

    assert [m["type"] for m in live] == ["event"] * len(HOOK_TYPES)
    assert [m["data"] for m in live] == [answers[name] for name in HOOK_TYPES]

    recent = server.get("/events/recent?limit=50").json()
    assert [e["id"] for e in recent] == ids  # oldest first
    assert recent == [answers[name] for name in HOOK_TYPES]
    assert [e["id"] for e in server.get("/events/recent?limit=3").json()] == ids[-3:]

    listed = wait_for(lambda: server.get("/api/events?app=cc-hook-multi-agent-obvs").json())
    assert sorted(e["seq"] for e in listed) == ids
    assert {e["hook_event_type"] for e in listed} == set(HOOK_TYPES)
    assert {(e["source"], e["kind"]) for e in listed} == {("hook", "hook")}

    # The new client's initial message carries them all, as the live ones were.
    async with connect(server.ws_url("/stream"), max_size=None) as ws:
        again = await recv_json(ws)
    assert again["data"] == recent


def test_chat_is_stored_and_served_on_demand_but_never_broadcast(server: LiveServer) -> None:
    stop = body_of("Stop")
    assert len(stop["chat"]) == 4
    # A long session: --add-chat sends the whole transcript (~3 MB here).
    stop["chat"] = stop["chat"] * 3000
    answer = post(server, stop).json()
    assert "chat" not in answer and len(json.dumps(answer)) < 2000
    recent = server.get("/events/recent").json()
    assert "chat" not in json.dumps(recent)
    one = server.get(f"/api/events/{answer['id']}").json()
    assert len(one["payload"]["chat"]) == 12_000
    assert one["payload"]["payload"]["last_assistant_message"].startswith("CSV export")


def test_the_api_masks_secrets_in_tool_input_and_env_dumps(server: LiveServer) -> None:
    answers = [post(server, fixture(name)).json() for name in ("PreToolUse", "PostToolUse")]
    pre, env = answers
    assert "Bearer ********" in pre["payload"]["tool_input"]["command"]
    assert pre["summary"] == "Fetches five recent orders from the API"  # the sender's
    ours = wait_for(lambda: server.get("/api/events?tool=Bash").json())
    assert {e["summary"].split(" https")[0] for e in ours} == {
        "curl -s -H 'Authorization: Bearer ********'",
        "env",
    }
    assert "GITHUB_TOKEN=********" in env["payload"]["tool_response"]["stdout"]
    # The session id names the session; it looks like a secret by name only.
    assert pre["payload"]["session_id"] == json.loads(fixture("PreToolUse"))["session_id"]
    texts = [
        json.dumps(answers),
        server.get("/events/recent").text,
        server.get("/api/events").text,
        *(server.get(f"/api/events/{a['id']}").text for a in answers),
    ]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def test_filter_options_and_transcript_events_in_their_shape(server: LiveServer) -> None:
    for name in ("SessionStart", "PreToolUse", "PostToolUseFailure"):
        post(server, fixture(name))
    transcript = server.agents_dir / ADW / "sdlc_planner" / "raw_output.jsonl"
    transcript.parent.mkdir(parents=True, exist_ok=True)
    call = {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "make lint"}}
    result = {"type": "tool_result", "tool_use_id": "t1", "content": "boom", "is_error": True}
    lines = [
        {"type": "assistant", "message": {"id": "m1", "role": "assistant", "content": [call]}},
        {"type": "user", "message": {"role": "user", "content": [result]}},
    ]
    transcript.write_text("".join(json.dumps(line) + "\n" for line in lines))

    def from_transcript() -> list[dict[str, Any]]:
        events = server.get("/events/recent").json()
        found = [e for e in events if e["source_app"] == ADW]
        return found if len(found) >= 2 else []

    call_event, result_event = wait_for(from_transcript, timeout=30)[:2]
    assert call_event["session_id"] == "sdlc_planner"
    assert call_event["hook_event_type"] == "PreToolUse"
    assert call_event["payload"]["tool_name"] == "Bash" == call_event["tool_name"]
    assert call_event["summary"] == "make lint"
    assert result_event["hook_event_type"] == "PostToolUseFailure"
    assert isinstance(call_event["timestamp"], int)

    options = server.get("/events/filter-options").json()
    assert options["source_apps"] == sorted([ADW, "cc-hook-multi-agent-obvs"])
    assert set(options["session_ids"]) == {
        "sdlc_planner",
        json.loads(fixture("PreToolUse"))["session_id"],
    }
    assert options["hook_event_types"] == [
        "PostToolUseFailure",
        "PreToolUse",
        "SessionStart",
    ]


# -- linking to workflows -----------------------------------------------------------------------


def test_a_hook_from_inside_a_worktree_joins_its_workflow(
    server: LiveServer, tmp_path: Path
) -> None:
    listed = wait_for(lambda: server.get(f"/api/workflows/{ADW}").json().get("worktree_path"))
    assert listed == str(tmp_path / "trees" / ADW)
    inside = body_of("PreToolUse")
    inside["payload"]["cwd"] = str(tmp_path / "trees" / ADW / "app")
    inside["payload"]["tool_input"] = {"command": "pytest -q tests/unit"}
    answer = post(server, inside).json()
    assert answer["adw_id"] == ADW

    outside = post(server, fixture("PostToolUse")).json()
    assert "adw_id" not in outside  # /home/dev/projects/shop is no workflow's

    in_workflow = wait_for(lambda: server.get(f"/api/events?workflow={ADW}").json())
    assert [e["seq"] for e in in_workflow] == [answer["id"]]
    # The workflow's "Now" cell shows what the hook reported.
    record = wait_for(
        lambda: next(
            (
                w
                for w in server.get("/api/workflows").json()
                if w["adw_id"] == ADW and (w.get("now") or {}).get("summary")
            ),
            None,
        )
    )
    assert record["now"]["summary"] == "pytest -q tests/unit"


def test_a_hook_whose_source_app_is_an_adw_id_joins_that_workflow(server: LiveServer) -> None:
    wait_for(lambda: server.get(f"/api/workflows/{ADW}").status_code == 200)
    answer = post(server, body_of("Notification", source_app=ADW)).json()
    assert answer["adw_id"] == ADW == answer["source_app"]
    other = post(server, body_of("Notification", source_app="deadbeef")).json()
    assert "adw_id" not in other
    listed = wait_for(lambda: server.get(f"/api/events?workflow={ADW}").json())
    assert [e["seq"] for e in listed] == [answer["id"]]


# -- durability -----------------------------------------------------------------------------------


def test_every_2xx_survives_a_sigkill_right_after_it(server: LiveServer) -> None:
    ids = []
    for name in HOOK_TYPES:
        response = post(server, fixture(name))
        assert response.status_code == 200
        ids.append(response.json()["id"])
    server.stop(signal.SIGKILL)  # no grace: whatever was answered must already be on disk
    server.start()
    recent = server.get("/events/recent").json()
    assert [e["id"] for e in recent] == ids
    assert recent[ids.index(ids[0])]["payload"]["hook_event_name"] == HOOK_TYPES[0]
    stored = server.get("/api/events?app=cc-hook-multi-agent-obvs").json()
    assert sorted(e["seq"] for e in stored) == ids
    # Numbers go on after the restart.
    assert post(server, fixture("SessionEnd")).json()["id"] > ids[-1]


def test_when_the_database_cannot_take_it_the_answer_is_503_and_nothing_is_removed(
    server: LiveServer,
) -> None:
    assert post(server, fixture("SessionStart")).status_code == 200
    # The database file goes, and a folder takes its place: nothing can be written now.
    db = Path(server.args[server.args.index("--db") + 1])
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        path.unlink(missing_ok=True)
    db.mkdir()
    response = post(server, fixture("PreToolUse"))
    assert response.status_code == 503
    assert response.json()["error"] == "not stored" and response.json()["id"] > 0
    # Shown live all the same: nothing accepted is taken back, nothing shown is hidden.
    recent = server.get("/events/recent").json()
    assert [e["hook_event_type"] for e in recent] == ["SessionStart", "PreToolUse"]


# -- limits and bad input ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # One server for every limit test: each is refused before it changes anything.
    live = start(
        tmp_path_factory.mktemp("strict"), "--hook-max-body-mb", "0.05", "--hook-rate", "5"
    )
    live.start()
    yield live
    live.stop()


def test_a_body_over_the_limit_gets_413_whatever_it_claims(strict: LiveServer) -> None:
    big = body_of("Stop")
    big["chat"] = big["chat"] * 100  # ~100 KB, over 0.05 MB
    response = post(strict, big)
    assert response.status_code == 413
    assert response.json()["error"] == "body too large"

    # No Content-Length at all (chunked): counted while it streams in.
    raw = json.dumps(big).encode()

    def chunks() -> Iterator[bytes]:
        for at in range(0, len(raw), 8192):
            yield raw[at : at + 8192]

    response = httpx.post(f"{strict.url}/events", content=chunks(), headers=HEADERS, timeout=10)
    assert response.status_code == 413
    # Everything else goes on.
    assert post(strict, fixture("Stop")).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{this is not json", "body"),
        (b'["a", "list"]', "body"),
        ({k: v for k, v in json.loads(fixture("Stop")).items() if k != "source_app"}, "source_app"),
        ({**json.loads(fixture("Stop")), "session_id": ""}, "session_id"),
        ({**json.loads(fixture("Stop")), "hook_event_type": None}, "hook_event_type"),
    ],
)
def test_bad_bodies_get_422_naming_the_field(
    strict: LiveServer, body: bytes | dict[str, Any], field: str
) -> None:
    response = post(strict, body)
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert field in response.json()["detail"]


def test_a_sender_over_its_rate_gets_429_and_others_do_not(strict: LiveServer) -> None:
    statuses = []
    stored_before = len(strict.get("/events/recent").json())
    busy = json.dumps(body_of("PreToolUse", source_app="busy-project"))
    with httpx.Client(base_url=strict.url, headers=HEADERS, timeout=10) as client:
        for _ in range(20):
            response = client.post("/events", content=busy)
            statuses.append(response.status_code)
            if response.status_code == 429:
                limited = response
        other = client.post("/events", json=body_of("PreToolUse", source_app="quiet-project"))
    assert statuses[:5] == [200] * 5  # a second's worth of burst
    assert statuses.count(429) >= 10
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"] == "rate limited"
    assert other.status_code == 200
    # Refused posts were not stored.
    stored = len(strict.get("/events/recent").json()) - stored_before
    assert stored == statuses.count(200) + 1


# -- the token ----------------------------------------------------------------------------------


def test_with_a_token_ingest_takes_it_from_the_query_or_the_header(tmp_path: Path) -> None:
    live = start(tmp_path, "--token", TOKEN, "--log-level", "debug")
    live.start()
    try:
        assert post(live, fixture("PreToolUse"), f"/events?token={TOKEN}").status_code == 200
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert post(live, fixture("PostToolUse"), headers=bearer).status_code == 200
        missing = post(live, fixture("Stop"))
        assert missing.status_code == 401 and missing.json()["error"] == "unauthorized"
        wrong = post(live, fixture("Stop"), f"/events?token={TOKEN}x")
        assert wrong.status_code == 401
        # The reads need it too (as a header: their client's own server has no token).
        assert live.get("/events/recent").status_code == 401
        recent = live.get("/events/recent", headers=bearer).json()
        assert [e["hook_event_type"] for e in recent] == ["PreToolUse", "PostToolUse"]
        assert TOKEN not in live.log()
    finally:
        live.stop()
    assert TOKEN not in live.log()


# -- their other endpoints, CORS and origins -----------------------------------------------------


def test_their_theme_and_human_in_the_loop_endpoints_get_json_404s(server: LiveServer) -> None:
    for method, path in [
        ("GET", "/api/themes?isPublic=true"),
        ("POST", "/api/themes"),
        ("DELETE", "/api/themes/t1?authorId=me"),
        ("GET", "/api/themes/stats"),
        ("POST", "/events/12/respond"),
        ("GET", "/events/query?limit=5"),
    ]:
        response = httpx.request(method, f"{server.url}{path}", json={}, timeout=10)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/json", path
        assert response.json()["error"], path
    # Our own events page is still the page.
    assert server.get("/events").headers["content-type"].startswith("text/html")


def test_their_dev_server_may_read_and_post_but_a_foreign_page_may_not(server: LiveServer) -> None:
    vite = {"Origin": "http://localhost:5173"}
    response = server.get("/events/filter-options", headers=vite)
    assert response.headers["access-control-allow-origin"] == "http://localhost:5173"
    preflight = httpx.options(
        f"{server.url}/api/themes",
        headers={
            **vite,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["access-control-allow-methods"]
    foreign = {"Origin": "https://evil.example"}
    assert (
        "access-control-allow-origin" not in server.get("/events/recent", headers=foreign).headers
    )
    forged = post(server, fixture("PreToolUse"), headers=foreign)
    assert forged.status_code == 403
    assert server.get("/events/recent").json() == []


# -- slow clients --------------------------------------------------------------------------------


async def test_a_stream_client_that_never_reads_is_dropped_and_others_are_not(
    tmp_path: Path,
) -> None:
    live = start(tmp_path, "--hook-rate", "100000")
    live.start()
    big = body_of("PostToolUse")
    big["payload"]["tool_response"]["stdout"] = "x" * 200_000
    posted: list[int] = []
    try:
        async with connect(live.ws_url("/stream"), max_size=None) as healthy:
            await recv_json(healthy)
            # A tiny receive buffer (no autotuning), so the server feels it stop reading soon.
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", live.port))
            sock.setblocking(False)
            stuck = await connect(live.ws_url("/stream"), sock=sock, max_queue=1, max_size=None)
            await recv_json(stuck)
            seen: list[int] = []

            async def read_healthy() -> None:
                while True:
                    seen.append((await recv_json(healthy, 30))["data"]["id"])

            reader = asyncio.create_task(read_healthy())
            async with httpx.AsyncClient(base_url=live.url, headers=HEADERS) as client:

                async def send(bodies: list[dict[str, Any]]) -> None:
                    for body in bodies:
                        response = await client.post("/events", json=body)
                        assert response.status_code == 200
                        posted.append(response.json()["id"])

                await send([big] * 40)  # ~8 MB: the stuck client's socket is full by now
                # Then more batches than a client may fall behind (the event log's 1024).
                small = [body_of("SessionEnd", session_id=f"s{i}") for i in range(1100)]
                await asyncio.gather(*(send(small[i::8]) for i in range(8)))
            deadline = time.monotonic() + 20
            while len(seen) < len(posted):
                assert time.monotonic() < deadline, "the healthy client fell behind"
                await asyncio.sleep(0.05)
            reader.cancel()
            assert sorted(seen) == sorted(posted)  # every one, none twice
            assert "fell too far behind" in live.log()
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(stuck.recv(), 10)
            # The close frame gets through when the pipe has room for it; else the server
            # gives up on it after a second and drops the connection.
            assert closed.value.rcvd is None or closed.value.rcvd.code == 1013
            dropped = 'livewatch_clients_dropped_total{reason="too_far_behind"} 1.0'
            assert dropped in live.get("/metrics").text
    finally:
        live.stop()
