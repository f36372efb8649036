"""Access: loopback by default, Origin checks, the token everywhere, masking, 1001 on stop."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from conftest import recv_json
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from livewatch.security.access import AccessPolicy
from livewatch.security.secrets import MASK, mask_secrets
from livewatch.settings import Settings
from livewatch.testing import LiveServer, free_port

TOKEN = "s3cret-token"


@pytest.fixture
def guarded(tmp_path: Path) -> LiveServer:
    agents = tmp_path / "agents"
    agents.mkdir()
    live = LiveServer(agents, args=["--allow-origin", "https://dash.example.com"])
    live.extra_env["LIVEWATCH_TOKEN"] = TOKEN
    live.agents.write("aaaa1111", api_key="sk-live-123", nested={"password": "hunter2"})
    live.start()
    yield live
    live.stop()


def test_the_default_host_is_loopback() -> None:
    assert Settings().host == "127.0.0.1"
    assert not Settings().exposed
    assert Settings(host="0.0.0.0").exposed


def test_an_exposed_host_without_a_token_warns(tmp_path: Path) -> None:
    port = free_port()
    command = ["python", "-m", "livewatch", "serve", "--agents-dir", str(tmp_path)]
    process = subprocess.Popen(
        [*command, "--host", "0.0.0.0", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        assert any("[SECURITY] serving on 0.0.0.0 without a token" in line for line in lines)
    finally:
        process.terminate()
        process.wait(10)


def test_api_needs_the_token(guarded: LiveServer) -> None:
    assert guarded.get("/api/workflows").status_code == 401
    wrong = guarded.get("/api/workflows", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "missing or wrong token"}
    ok = guarded.get("/api/workflows", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    assert ok.json()[0]["adw_id"] == "aaaa1111"


def test_pages_show_a_login_form_and_trade_a_query_token_for_a_cookie(
    guarded: LiveServer,
) -> None:
    login = guarded.get("/")
    assert login.status_code == 401
    assert 'data-testid="login-form"' in login.text
    assert guarded.get("/?token=nope").status_code == 401

    exchange = guarded.get("/routes?token=" + TOKEN)
    assert exchange.status_code == 303
    assert exchange.headers["location"] == "/routes"
    cookie = exchange.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    with httpx.Client(base_url=guarded.url, cookies=exchange.cookies) as browser:
        assert browser.get("/api/routes").status_code == 200


async def test_websockets_need_the_token(guarded: LiveServer) -> None:
    async with connect(guarded.ws_url("/ws/workflows")) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await recv_json(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401

    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with connect(guarded.ws_url("/ws/workflows"), additional_headers=headers) as ws:
        assert (await recv_json(ws))["type"] == "workflows_update"

    cookie = {"Cookie": f"livewatch_token={TOKEN}"}
    async with connect(guarded.ws_url("/ws/routes"), additional_headers=cookie) as ws:
        assert (await recv_json(ws))["type"] == "routes_update"

    offered = ["livewatch.v2", f"livewatch.token.{TOKEN}"]
    async with connect(guarded.ws_url("/ws/workflows"), subprotocols=offered) as ws:
        assert (await recv_json(ws))["type"] == "snapshot"


async def test_websockets_from_foreign_origins_are_refused(guarded: LiveServer) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for origin in ("https://evil.example", f"http://evil.example:{guarded.port}"):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(
                guarded.ws_url("/ws/workflows"), origin=origin, additional_headers=auth
            ):  # type: ignore[arg-type]
                pass
        assert refused.value.response.status_code == 403
    for origin in (guarded.url, "http://localhost:5173", "https://dash.example.com"):
        async with connect(
            guarded.ws_url("/ws/workflows"), origin=origin, additional_headers=auth
        ) as ws:  # type: ignore[arg-type]
            assert (await recv_json(ws))["type"] == "workflows_update"


def test_origin_policy_rules() -> None:
    policy = AccessPolicy.build(None, ["https://ok.example/"])
    assert policy.origin_allowed(None, "h:1")
    assert policy.origin_allowed("http://h:1", "h:1")
    assert policy.origin_allowed("http://127.0.0.1:5173", "h:1")
    assert policy.origin_allowed("https://ok.example", "h:1")
    assert not policy.origin_allowed("http://h:2", "h:1")
    assert not policy.origin_allowed("null", "h:1")


def test_secrets_are_masked_in_the_detail(guarded: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    state = guarded.get("/api/workflows/aaaa1111", headers=headers).json()["state"]
    assert state["api_key"] == MASK
    assert state["nested"]["password"] == MASK
    assert state["issue_class"] == "/feature"
    assert "sk-live-123" not in guarded.get("/api/workflows/aaaa1111", headers=headers).text


def test_mask_secrets_walks_any_depth() -> None:
    state = {"GITHUB_TOKEN": "x", "list": [{"client_secret": "y"}], "empty_password": "", "n": 1}
    assert mask_secrets(state) == {
        "GITHUB_TOKEN": MASK,
        "list": [{"client_secret": MASK}],
        "empty_password": "",
        "n": 1,
    }


async def test_sigterm_closes_websockets_with_going_away(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "agents").start()
    async with connect(server.ws_url("/ws/workflows?protocol=2")) as ws:
        await recv_json(ws)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        with pytest.raises(ConnectionClosed) as closed:
            await recv_json(ws, timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert server.process.wait(5) is not None  # type: ignore[union-attr]
    assert time.monotonic() - started < 5
