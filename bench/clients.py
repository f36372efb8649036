"""WebSocket clients in the benchmark process: each reads all the time and stamps receipts.

A message is stamped with `time.perf_counter()` as soon as `recv` hands it over, before it is
parsed. Changes are found by a marker (`"adw_id":"<id>","issue_number":<n>`), which both
servers' compact JSON carries in the changed record, so no 3 MB list is ever parsed to find one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

PING_PREFIX = b'{"type":"ping"'
PONG = '{"type":"pong"}'


def marker(adw_id: str, issue_number: int) -> bytes:
    """The changed record's first two fields, as both servers encode them (then `,"phase"`)."""
    return f'"adw_id":"{adw_id}","issue_number":{issue_number},'.encode()


@dataclass
class Expectation:
    """Waits until `want` clients have received a message containing `marker`."""

    marker: bytes
    want: int
    times: dict[int, float] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def hit(self, index: int, at: float) -> None:
        if index not in self.times:
            self.times[index] = at
            if len(self.times) >= self.want:
                self.done.set()


@dataclass
class Received:
    at: float
    size: int
    hit: bool


class Client:
    """One connection and its reader task."""

    def __init__(self, index: int, ws: ClientConnection, pool: Pool) -> None:
        self.index = index
        self.ws = ws
        self.pool = pool
        self.ready = asyncio.Event()  # set on the first message (the snapshot or full list)
        self.first: bytes | None = None
        self.first_at = 0.0
        self.log: list[Received] | None = None  # every message, while someone records
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed, asyncio.CancelledError):
            while True:
                data = await self.ws.recv(decode=False)
                at = time.perf_counter()
                assert isinstance(data, bytes)
                expectation = self.pool.expectation
                hit = expectation is not None and expectation.marker in data
                if hit:
                    assert expectation is not None
                    expectation.hit(self.index, at)
                if self.log is not None:
                    self.log.append(Received(at, len(data), hit))
                if not self.ready.is_set():
                    self.first_at = at
                    if self.pool.keep_first:
                        self.first = data
                    self.ready.set()
                elif data.startswith(PING_PREFIX):
                    await self.ws.send(PONG)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 2)


class Pool:
    """Many clients of one URL; one expectation at a time is checked by all of them."""

    def __init__(self, url: str, *, keep_first: bool = False) -> None:
        self.url = url
        self.keep_first = keep_first
        self.clients: list[Client] = []
        self.expectation: Expectation | None = None

    async def open_one(self, open_timeout: float = 60.0) -> Client:
        ws = await connect(
            self.url,
            max_size=None,
            compression=None,
            ping_interval=None,
            open_timeout=open_timeout,
            close_timeout=1,
            max_queue=None,
        )
        client = Client(len(self.clients), ws, self)
        self.clients.append(client)
        return client

    async def open(self, count: int, *, parallel: int = 50, timeout: float = 300.0) -> float:
        """Connect `count` clients and wait for each one's first message; returns seconds."""
        started = time.perf_counter()
        gate = asyncio.Semaphore(parallel)

        async def one() -> None:
            async with gate:
                client = await self.open_one()
                await client.ready.wait()

        await asyncio.wait_for(asyncio.gather(*(one() for _ in range(count))), timeout)
        return time.perf_counter() - started

    def expect(self, mark: bytes, want: int | None = None) -> Expectation:
        self.expectation = Expectation(mark, len(self.clients) if want is None else want)
        return self.expectation

    async def close(self) -> None:
        self.expectation = None
        await asyncio.gather(*(c.close() for c in self.clients))
        self.clients.clear()
