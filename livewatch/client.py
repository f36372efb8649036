"""The Python client: the seed's `useWorkflowsWebSocket` / `useRoutesWebSocket`, for Python.

It keeps the current list, follows protocol 2 with resume, reconnects with capped
exponential backoff plus jitter, and polls the REST endpoint while the WebSocket is down:

    async with LiveClient("http://127.0.0.1:8000") as client:
        await client.wait_for(lambda records: "abcd1234" in records)
        print(client.state, client.last_update, client.records["abcd1234"]["phase"])
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from livewatch.hub.records import route_key, workflow_key

log = logging.getLogger("livewatch.client")

Kind = Literal["workflows", "routes"]
Record = dict[str, Any]


def backoff_delay(attempt: int, first: float, cap: float) -> float:
    """Exponential with ±50% jitter, capped, so many clients don't reconnect in step."""
    delay = min(cap, first * 2 ** min(attempt, 32))
    return min(cap, delay * random.uniform(0.5, 1.5))


def ws_url(base_url: str, path: str, query: dict[str, Any]) -> str:
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, f"{parts.path}{path}", urlencode(query), ""))


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


class ClientState(enum.StrEnum):
    LIVE = "live"  # WebSocket connected
    POLLING = "polling"  # WebSocket down, REST answering
    RECONNECTING = "reconnecting"  # neither answering yet


@dataclass(frozen=True)
class Update:
    """What one message changed: `snapshot` replaces everything, `delta` merges."""

    kind: Literal["snapshot", "delta", "poll"]
    upsert: list[Record]
    remove: list[str]
    state: ClientState


Listener = Callable[[Update], Awaitable[None] | None]


class LiveClient:
    """Follows one collection (`workflows` or `routes`) of a livewatch server."""

    def __init__(
        self,
        base_url: str,
        kind: Kind = "workflows",
        *,
        poll_interval: float = 3.0,
        max_backoff: float = 5.0,
        first_backoff: float = 0.25,
        token: str | None = None,
        on_update: Listener | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.kind: Kind = kind
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.first_backoff = first_backoff
        self.token = token
        self.on_update = on_update
        self.key = workflow_key if kind == "workflows" else route_key
        self.records: dict[str, Record] = {}
        self.state = ClientState.RECONNECTING
        self.last_update: float | None = None
        self.seq: int | None = None
        self.epoch: str | None = None
        self.rtt_ms: float | None = None
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._etag: str | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> LiveClient:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run())

    async def wait_closed(self) -> None:
        """Follow until cancelled (the client itself never gives up)."""
        if self._task is not None:
            await self._task

    async def close(self) -> None:
        for task in (self._task, self._poller):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._poller = None

    async def wait_for(
        self, predicate: Callable[[dict[str, Record]], bool], timeout: float = 10.0
    ) -> dict[str, Record]:
        """Wait until `predicate(records)` holds; the records then."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: predicate(self.records))
        return self.records

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, follow, and on any failure poll while retrying with backoff."""
        attempt = 0
        while True:
            try:
                async with connect(self._ws_url(), open_timeout=5, **self._ws_auth()) as ws:
                    attempt = 0
                    if self._poller is not None:
                        self._poller.cancel()
                    await self._set_state(ClientState.LIVE)
                    await self._follow(ws)
            except (OSError, WebSocketException, TimeoutError) as error:
                log.debug("[CLIENT] WebSocket down: %s", error)
            await self._set_state(
                ClientState.POLLING
                if self.state is ClientState.POLLING
                else ClientState.RECONNECTING
            )
            if self._poller is None or self._poller.done():
                self._poller = asyncio.create_task(self._poll())
            await asyncio.sleep(self.backoff(attempt))
            attempt += 1

    def backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, self.first_backoff, self.max_backoff)

    async def _follow(self, ws: ClientConnection) -> None:
        async for raw in ws:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif kind == "pong":
                self.rtt_ms = (time.monotonic() - float(message.get("id") or 0)) * 1000
            elif kind in ("snapshot", "delta"):
                await self._apply_message(message)

    async def ping(self, ws: ClientConnection) -> None:
        """Measure the round trip: the pong echoes our id, which is our send time."""
        await ws.send(json.dumps({"type": "ping", "id": time.monotonic()}))

    async def _apply_message(self, message: dict[str, Any]) -> None:
        if message["type"] == "snapshot":
            self.epoch = message["epoch"]
            self.seq = message["seq"]
            await self._replace(message["data"], "snapshot")
            return
        if self.seq is not None and message["seq"] <= self.seq:
            return  # already have it (a resume can overlap what we polled)
        self.seq = message["seq"]
        for record in message["upsert"]:
            self.records[self.key(record)] = record
        for key in message["remove"]:
            self.records.pop(key, None)
        await self._notify(Update("delta", message["upsert"], message["remove"], self.state))

    async def _replace(self, records: list[Record], kind: Literal["snapshot", "poll"]) -> None:
        fresh = {self.key(r): r for r in records}
        upsert = [r for k, r in fresh.items() if self.records.get(k) != r]
        remove = [k for k in self.records if k not in fresh]
        self.records = fresh
        await self._notify(Update(kind, upsert, remove, self.state))

    async def _poll(self) -> None:
        """The REST fallback: poll every `poll_interval` while the WebSocket is down."""
        async with httpx.AsyncClient(timeout=5, headers=self._http_auth()) as http:
            while True:
                try:
                    await self._poll_once(http)
                except httpx.HTTPError as error:
                    log.debug("[CLIENT] poll failed: %s", error)
                    await self._set_state(ClientState.RECONNECTING)
                await asyncio.sleep(self.poll_interval)

    async def _poll_once(self, http: httpx.AsyncClient) -> None:
        headers = {"If-None-Match": self._etag} if self._etag else {}
        response = await http.get(f"{self.base_url}/api/{self.kind}", headers=headers)
        if response.status_code == 304:
            await self._set_state(ClientState.POLLING)
            return
        response.raise_for_status()
        self._etag = response.headers.get("etag")
        # The position the list was taken at: resuming from it skips what we already have.
        if "x-livewatch-seq" in response.headers:
            self.seq = int(response.headers["x-livewatch-seq"])
            self.epoch = response.headers.get("x-livewatch-epoch")
        body = response.json()
        self.state = ClientState.POLLING
        await self._replace(body["routes"] if self.kind == "routes" else body, "poll")

    # -- helpers -------------------------------------------------------------------------

    async def _set_state(self, state: ClientState) -> None:
        if state is not self.state:
            self.state = state
            await self._notify(Update("poll", [], [], state))

    async def _notify(self, update: Update) -> None:
        self.last_update = time.time()
        if self.on_update is not None:
            result = self.on_update(update)
            if asyncio.iscoroutine(result):
                await result
        async with self._changed:
            self._changed.notify_all()

    def _ws_url(self) -> str:
        query: dict[str, Any] = {"protocol": 2}
        if self.seq is not None and self.epoch:
            query.update(since=self.seq, epoch=self.epoch)
        return ws_url(self.base_url, f"/ws/{self.kind}", query)

    def _http_auth(self) -> dict[str, str]:
        return bearer(self.token)

    def _ws_auth(self) -> dict[str, Any]:
        return {"additional_headers": self._http_auth()} if self.token else {}


class EventStream:
    """Every agent event a server sees, as it arrives, resuming where it left off after a drop.

        async for event in EventStream("http://127.0.0.1:8000", tool="Bash"):
            print(event["agent"], event["summary"])

    Filters (`workflow`, `agent`, `app`, `kind`, `tool`, `q`) are the server's. After a
    reconnect, events already yielded are never yielded again: numbers only grow.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        first_backoff: float = 0.25,
        max_backoff: float = 5.0,
        **filters: str | None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.filters = {k: v for k, v in filters.items() if v}
        self.seq: int | None = None
        self.epoch: str | None = None
        self.connected = False

    async def __aiter__(self) -> AsyncIterator[Record]:
        attempt = 0
        while True:
            try:
                async with connect(
                    self._url(), open_timeout=5, additional_headers=bearer(self.token)
                ) as ws:
                    attempt, self.connected = 0, True
                    async for raw in ws:
                        for event in await self._take(ws, json.loads(raw)):
                            yield event
            except (OSError, WebSocketException, TimeoutError) as error:
                log.debug("[CLIENT] events stream down: %s", error)
            self.connected = False
            await asyncio.sleep(backoff_delay(attempt, self.first_backoff, self.max_backoff))
            attempt += 1

    async def _take(self, ws: ClientConnection, message: dict[str, Any]) -> list[Record]:
        if message.get("type") == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            return []
        if message.get("type") != "events":
            return []
        epoch = message.get("epoch")
        if epoch is not None and epoch != self.epoch and (self.seq or 0) > message["seq"]:
            self.seq = None  # a server that started its numbers over (its database was lost)
        self.epoch = epoch or self.epoch
        fresh = [e for e in message["data"] if self.seq is None or e["seq"] > self.seq]
        self.seq = max(self.seq or 0, message["seq"])
        return fresh

    def _url(self) -> str:
        query: dict[str, Any] = dict(self.filters)
        if self.seq is not None and self.epoch:
            query.update(since=self.seq, epoch=self.epoch)
        return ws_url(self.base_url, "/ws/events", query)
