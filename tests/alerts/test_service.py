"""The alert service in-process: a real hub collection, a real SQLite file, real receivers."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from webhook_receiver import Receiver

from livewatch.alerts.rules import Rules
from livewatch.alerts.service import AlertService
from livewatch.hub.hub import Hub


def record(adw_id: str, status: str) -> dict[str, Any]:
    return {"adw_id": adw_id, "status": status, "phase": "build", "updated_at": "t0"}


async def until(probe: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := probe()):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)
    return value


@asynccontextmanager
async def running(
    db: Path, webhooks: list[str], hub: Hub | None = None, **options: Any
) -> AsyncIterator[tuple[Hub, AlertService]]:
    """A service following `hub` (by default one with two running workflows)."""
    if hub is None:
        hub = Hub.create()
        hub.workflows.apply([record("aaaa1111", "running"), record("bbbb2222", "running")])
    service = AlertService(str(db), Rules(), webhooks, **options)
    service.follow(hub.workflows)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        yield hub, service
    finally:
        stop.set()
        await task
        await service.close()


def deliveries(service: AlertService) -> dict[str, str]:
    return {row["adw_id"]: row["delivery"] for row in service.newest()}


async def test_a_hanging_webhook_never_holds_up_another(tmp_path: Path) -> None:
    with Receiver("hang") as hang, Receiver("ok") as ok:
        db = tmp_path / "a.db"
        hub = Hub.create()
        hub.workflows.apply([record("aaaa1111", "running"), record("bbbb2222", "running")])
        # Two senders on one file: one's webhook answers, the other's hangs.
        async with (
            running(db, [ok.url], hub, timeout_s=0.5, give_up_s=60) as (_, fast),
            running(db, [hang.url], hub, timeout_s=30, give_up_s=60) as (_, slow),
        ):
            hub.workflows.apply([record("aaaa1111", "failed")])
            await until(lambda: len(ok.posts) == 1 and hang.posts)
            assert ok.bodies()[0]["adw_id"] == "aaaa1111"
            # Delivered to one, still pending (hanging) at the other.
            assert await until(lambda: deliveries(fast) == {"aaaa1111": "pending"})
            hub.workflows.apply([record("bbbb2222", "stalled")])  # goes on meanwhile
            await until(lambda: len(ok.posts) == 2)
            assert slow.status()["delivering"] >= 1


async def test_a_transition_is_sent_once_and_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    with Receiver("error") as rx:
        async with running(db, [rx.url], give_up_s=60) as (hub, service):
            hub.workflows.apply([record("aaaa1111", "failed")])
            await until(lambda: len(rx.posts) >= 1)
            await until(lambda: service.newest() and service.newest()[0]["attempts"] >= 1)
            assert service.newest()[0]["delivery"] == "pending"
        # Stopped with the alert undelivered; the webhook works again, and a new process
        # (which sees the failure as its first load: no transition) still delivers it.
        rx.mode = "ok"
        errors = len(rx.posts)
        async with running(db, [rx.url], give_up_s=60) as (_, again):
            await until(lambda: deliveries(again) == {"aaaa1111": "delivered"})
            assert len(rx.posts) == errors + 1
        async with running(db, [rx.url]) as (_, third):
            await until(lambda: third.newest())
            await asyncio.sleep(0.3)
        assert len(rx.posts) == errors + 1  # a delivered alert is never sent again


async def test_a_locked_database_degrades_then_alerts_resume(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="livewatch.alerts")
    db = tmp_path / "a.db"
    with Receiver("ok") as rx:
        async with running(db, [rx.url], busy_timeout_ms=50) as (hub, service):
            await until(lambda: service.state == "ok")
            other = sqlite3.connect(db, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            try:
                hub.workflows.apply([record("aaaa1111", "failed")])
                await until(lambda: service.state == "degraded")
                assert deliveries(service) == {"aaaa1111": "pending"}  # shown from memory
                assert rx.posts == []
            finally:
                other.execute("ROLLBACK")
                other.close()
            await until(lambda: deliveries(service) == {"aaaa1111": "delivered"})
            assert service.state == "ok" and len(rx.posts) == 1
    lines = [r.getMessage() for r in caplog.records]
    assert sum("cannot use the alert database" in line for line in lines) == 1
    assert any("writable again" in line for line in lines)
    assert not any("secret-token" in line for line in lines)
