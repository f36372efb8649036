"""`POST /events`'s raw ASGI fast path (scripts) answers as the full stack does (browsers).

A script's post (no Origin) is answered by `hook_ingest.HookFastPath` before every
middleware; a browser's (with an Origin) goes through the stack for its CORS headers.
Both must take the same body to the same answer, and the fast path must keep the checks.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from livewatch.testing import LiveServer

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "hooks" / "PreToolUse.json"
HEADERS = {"Content-Type": "application/json", "User-Agent": "Claude-Code-Hook/1.0"}
VITE = {"Origin": "http://localhost:5173"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    agents = tmp_path_factory.mktemp("ingest") / "agents"
    agents.mkdir()
    server = LiveServer(agents, args=["--hook-max-body-mb", "0.05"])
    server.start()
    yield server
    server.stop()


def post(live: LiveServer, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        f"{live.url}/events", content=body, headers={**HEADERS, **(headers or {})}, timeout=10
    )


def test_a_script_and_a_browser_get_the_same_answer_and_only_the_browser_gets_cors(
    live: LiveServer,
) -> None:
    body = FIXTURE.read_bytes()
    script, browser = post(live, body), post(live, body, VITE)
    assert script.status_code == browser.status_code == 200
    assert script.headers["content-type"] == browser.headers["content-type"] == "application/json"
    one, other = script.json(), browser.json()
    assert other.pop("id") == one.pop("id") + 1
    assert one == other
    assert "access-control-allow-origin" not in script.headers
    assert browser.headers["access-control-allow-origin"] == VITE["Origin"]
    for bad, status in ((b"{not json", 422), (b"x" * 60_000, 413)):
        assert post(live, bad).status_code == post(live, bad, VITE).status_code == status


def test_a_sender_that_leaves_mid_body_disturbs_nothing(live: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", live.port)) as sock:
        sock.sendall(
            b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 5000\r\n\r\n" + b'{"source_app": "half'
        )
    answer = post(live, json.dumps({**json.loads(FIXTURE.read_bytes()), "x": 1}).encode())
    assert answer.status_code == 200
    assert "half" not in json.dumps(live.get("/events/recent").json())
