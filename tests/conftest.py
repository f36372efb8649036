"""Shared helpers: a real server (from `livewatch.testing`) and a WebSocket reader."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
from postgres_server import PostgresServer, why_unavailable
from websockets.asyncio.client import ClientConnection

from livewatch.store import EventStore
from livewatch.testing import LiveServer

Message = dict[str, Any]
T = TypeVar("T")


async def recv_json(ws: ClientConnection, timeout: float = 5.0) -> Message:
    # orjson on the raw bytes: a seed-format list of 2,000 workflows is ~800 KB, and a test
    # client slow to parse them (json.loads, on a CI machine running four workers) can fall
    # 256 changes behind and be dropped, as a slow client should be.
    return orjson.loads(await asyncio.wait_for(ws.recv(decode=False), timeout))  # type: ignore[no-any-return]


async def recv_until(
    ws: ClientConnection, predicate: Callable[[Message], bool], timeout: float = 5.0
) -> Message:
    """Read messages until one satisfies `predicate`; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no matching message arrived in time")
        message = await recv_json(ws, remaining)
        if predicate(message):
            return message


def wait_for(probe: Callable[[], T | None], timeout: float = 20.0) -> T:
    """Poll `probe` until it returns something truthy, and return that; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(0.05)
    raise TimeoutError("condition not met in time")


def by_id(message: Message) -> dict[str, Message]:
    return {record["adw_id"]: record for record in message["data"]}


@contextmanager
def serving(tmp_path: Path, adw_id: str, **fields: Any) -> Iterator[LiveServer]:
    """A running livewatch whose agents dir holds one workflow from the start."""
    agents = tmp_path / "agents"
    agents.mkdir()
    live = LiveServer(agents)
    live.agents.write(adw_id, **fields)
    live.start()
    try:
        yield live
    finally:
        live.stop()


# The store's tests (tests/store/): a fresh event database in tmp_path.


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "events.db"


@pytest.fixture
def store(db: Path) -> Iterator[EventStore]:
    opened = EventStore.open(db, retention_days=None, max_events=None)
    yield opened
    opened.close()


# A real PostgreSQL (tests/postgres_server.py): one cluster per run, a fresh database per test.


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if reason := why_unavailable():
        pytest.skip(reason)
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """An SQLAlchemy URL (`postgresql+psycopg://…`) of a new, empty database."""
    with postgres_server.fresh_database() as url:
        yield url
