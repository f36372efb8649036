"""A real livewatch process sends its alerts to a real receiver: stalled within a second,
failed once, shown by GET /api/alerts and /healthz, the webhook URL never in the log."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from conftest import wait_for
from webhook_receiver import Receiver

from livewatch.testing import LiveServer

STALL_AFTER_S = 2.0


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver("ok") as rx:
        yield rx


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[LiveServer]:
    agents = tmp_path_factory.mktemp("alerts") / "agents"
    agents.mkdir()
    live = LiveServer(
        agents,
        args=[
            "--alert-webhook", receiver.url,
            "--alert-on", "failed,stalled",
            "--stall-after-s", str(STALL_AFTER_S),
            "--reconcile-s", "600",
            "--public-url", "https://dash.example.com",
        ],
    )  # fmt: skip
    live.start()
    yield live
    live.stop()


def posts_for(receiver: Receiver, adw_id: str) -> list[dict[str, object]]:
    return [b for b in receiver.bodies() if b["adw_id"] == adw_id]


def test_a_stall_alerts_within_a_second_of_the_threshold(
    server: LiveServer, receiver: Receiver
) -> None:
    server.agents.write("stal1111")
    written = time.time()
    [body] = wait_for(lambda: posts_for(receiver, "stal1111"), timeout=10)
    late = time.time() - written
    assert STALL_AFTER_S - 0.1 <= late <= STALL_AFTER_S + 1.5, late
    assert (body["event"], body["status"]) == ("stalled", "stalled")
    assert body["url"] == "https://dash.example.com/workflows/stal1111"
    time.sleep(0.5)
    assert len(posts_for(receiver, "stal1111")) == 1  # once per transition


def test_a_failure_is_sent_once_and_listed_with_its_delivery(
    server: LiveServer, receiver: Receiver
) -> None:
    server.agents.write("fail2222")
    server.agents.write("fail2222", status="failed")
    [body] = wait_for(lambda: posts_for(receiver, "fail2222"))
    assert body["event"] == "failed" and "fail2222" in body["text"]

    def listed() -> dict[str, object] | None:
        rows = server.get("/api/alerts").json()["alerts"]
        return next((r for r in rows if r["key"] == "fail2222:failed:plan"), None)

    row = wait_for(lambda: (r := listed()) and r["delivery"] == "delivered" and r)
    assert row["event"] == "failed" and row["attempts"] == 1
    health = server.get("/healthz").json()
    assert health["db"] == "ok" and health["alerts"]["state"] == "ok"
    assert health["alerts"]["webhooks"] == 1
    assert len(posts_for(receiver, "fail2222")) == 1
    assert receiver.path not in server.log() and "secret-token" not in server.log()
