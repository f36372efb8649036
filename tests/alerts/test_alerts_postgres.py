"""Replicas sharing a real PostgreSQL send each alert once (FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import wait_for
from webhook_receiver import Receiver

from livewatch.alerts.outbox import Outbox, target_of
from livewatch.alerts.rules import Alert
from livewatch.store.database import open_engine
from livewatch.testing import LiveServer


def test_concurrent_claims_never_take_one_delivery_twice(postgres_url: str) -> None:
    boxes = [Outbox(open_engine(postgres_url), f"r{i}", [target_of("u")]) for i in range(4)]
    boxes[0].prepare()
    keys = [f"k{i}" for i in range(40)]
    for box in boxes:  # every replica saw every transition
        box.add([Alert(k, "failed", "a", {"event": "failed"}) for k in keys])
    taken: list[str] = []
    lock = threading.Lock()

    def drain(box: Outbox) -> None:
        while claims := box.claim(limit=3):
            with lock:
                taken.extend(c.key for c in claims)
            for c in claims:
                box.finish(c.key, c.target, "delivered", 1, None)

    threads = [threading.Thread(target=drain, args=(box,)) for box in boxes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(taken) == sorted(keys)  # each once, none left
    assert {r["delivery"] for r in boxes[0].recent()} == {"delivered"}
    for box in boxes:
        box.engine.dispose()


@pytest.fixture
def replicas(tmp_path: Path, postgres_url: str) -> Iterator[tuple[Receiver, list[LiveServer]]]:
    agents = tmp_path / "agents"
    agents.mkdir()
    with Receiver("fail_first", failures=1) as rx:
        args = ["--db", postgres_url, "--alert-webhook", rx.url, "--stall-after-s", "3"]
        servers = [LiveServer(agents, args=args), LiveServer(agents, args=args)]
        starting = [threading.Thread(target=s.start, kwargs={"timeout": 60}) for s in servers]
        for thread in starting:  # side by side: each start takes seconds on a busy machine
            thread.start()
        for thread in starting:
            thread.join()
        try:
            yield rx, servers
        finally:
            for server in servers:
                server.stop()


def test_two_replicas_send_each_alert_once(replicas: tuple[Receiver, list[LiveServer]]) -> None:
    rx, servers = replicas
    servers[0].agents.write("aaaa1111")
    servers[0].agents.write("bbbb2222")

    def both_see_them_running() -> bool:
        return all(
            {w["status"] for w in s.get("/api/workflows").json()} == {"running"} for s in servers
        )

    wait_for(both_see_them_running)
    servers[0].agents.write("aaaa1111", status="failed")
    # bbbb2222 goes quiet: both replicas see it stall. aaaa1111's first post gets a 500.
    expected = {("aaaa1111", "failed"), ("bbbb2222", "stalled")}

    def delivered() -> bool:
        return all(
            {(r["adw_id"], r["event"]) for r in s.get("/api/alerts").json()["alerts"]
             if r["delivery"] == "delivered"} >= expected
            for s in servers
        )  # fmt: skip

    wait_for(delivered, timeout=20)
    time.sleep(1.5)  # a second sender would have posted by now
    sent = [(b["adw_id"], b["event"]) for b in rx.bodies()]
    first = sent[0]
    assert sorted(sent) == sorted([*expected, first])  # each once, plus the one retry
    assert "secret-token" not in servers[0].log() + servers[1].log()
