"""One WebSocket client's session: what it asked for, what it is sent, and how it ends.

Protocol 1 is the seed's: the full list on connect and after every change. Protocol 2
(`?protocol=2`, or the `livewatch.v2` subprotocol) sends a snapshot, then deltas; resumes
from `?since=<seq>&epoch=<epoch>`; pings every `heartbeat_s` and drops a client that stays
silent for two intervals. Every session ends for exactly one `EndReason`, which picks the
close code.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from livewatch import metrics
from livewatch.hub import protocol
from livewatch.hub.collection import Change, Collection, Subscription, SubscriptionState

log = logging.getLogger("livewatch.ws")

SUBPROTOCOL_V2 = "livewatch.v2"
MAX_CLIENT_MESSAGE = 64 * 1024


class EndReason(enum.Enum):
    """Why a session ended, with the close code the client is sent (None: it left)."""

    CLIENT_LEFT = None
    SERVER_STOPPING = 1001
    MESSAGE_TOO_BIG = 1009
    TOO_FAR_BEHIND = 1013
    HEARTBEAT_TIMEOUT = 4408


@dataclass(frozen=True)
class Request:
    """What the client asked for when it connected."""

    protocol: int = 1
    since: int | None = None
    epoch: str | None = None
    subprotocol: str | None = None

    @classmethod
    def parse(cls, websocket: WebSocket) -> Request:
        query = websocket.query_params
        offered = websocket.scope.get("subprotocols") or []
        wants_v2 = SUBPROTOCOL_V2 in offered or query.get("protocol") == "2"
        # A browser fails the handshake unless one offered subprotocol is echoed back.
        subprotocol = SUBPROTOCOL_V2 if SUBPROTOCOL_V2 in offered else (offered or [None])[0]
        version = 2 if wants_v2 else 1
        since = query.get("since")
        return cls(
            protocol=version,
            since=int(since) if since and since.isdigit() else None,
            epoch=query.get("epoch"),
            subprotocol=subprotocol,
        )


class Session:
    """Serve one client until it leaves, lags too far, goes silent or the server stops.

    Subclasses say what to subscribe to and what to send; this class owns the socket's life:
    the handshake, pings both ways, the close code.
    """

    endpoint = "/ws"

    def __init__(self, websocket: WebSocket, *, heartbeat_s: float = 15.0) -> None:
        self.websocket = websocket
        self.heartbeat_s = heartbeat_s
        self.request = Request.parse(websocket)
        self.last_heard = time.monotonic()
        self._send_lock = asyncio.Lock()

    def _subscribe(self) -> Subscription[Any]:
        raise NotImplementedError

    async def _send_changes(self, subscription: Subscription[Any]) -> EndReason:
        raise NotImplementedError

    async def run(self) -> EndReason:
        metrics.CONNECTIONS.labels(self.endpoint).inc()
        try:
            reason = await self._serve()
        finally:
            metrics.CONNECTIONS.labels(self.endpoint).dec()
        if reason is not EndReason.CLIENT_LEFT:
            metrics.CLIENTS_DROPPED.labels(reason.name.lower()).inc()
        return reason

    @property
    def _heartbeats(self) -> bool:
        return self.request.protocol == 2

    async def _serve(self) -> EndReason:
        await self.websocket.accept(subprotocol=self.request.subprotocol)
        with self._subscribe() as subscription:
            jobs = {
                asyncio.create_task(self._send_changes(subscription)),
                asyncio.create_task(self._receive()),
                asyncio.create_task(self._until_ended(subscription)),
            }
            if self._heartbeats:
                jobs.add(asyncio.create_task(self._heartbeat()))
            try:
                done, _ = await asyncio.wait(jobs, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for job in jobs:
                    job.cancel()
                await asyncio.gather(*jobs, return_exceptions=True)
            # Several jobs can finish together (the send loop sees the end too): the most
            # specific reason wins, so the client gets the close code that explains it.
            reasons = [j.result() for j in done if not j.cancelled() and j.exception() is None]
            reason = next(
                (r for r in reasons if r is not EndReason.CLIENT_LEFT), EndReason.CLIENT_LEFT
            )
        await self._close(reason)
        return reason

    # -- what the client is sent ---------------------------------------------------------

    async def send(self, text: str, change_ts: float | None = None) -> None:
        async with self._send_lock:
            await self.websocket.send_text(text)
        metrics.MESSAGES_SENT.labels(self.endpoint).inc()
        # isascii() is O(1) in CPython; encoding a 4 MB list again per client is not.
        size = len(text) if text.isascii() else len(text.encode())
        metrics.BYTES_SENT.labels(self.endpoint).inc(size)
        if change_ts is not None:
            metrics.BROADCAST_LATENCY.observe(max(0.0, time.time() - change_ts))

    async def _heartbeat(self) -> EndReason:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            if time.monotonic() - self.last_heard > 2 * self.heartbeat_s:
                log.info("[WS] closed a client silent for %.0fs", 2 * self.heartbeat_s)
                return EndReason.HEARTBEAT_TIMEOUT
            await self.send(protocol.dumps({"type": "ping", "ts": time.time()}))

    # -- what the client sends -----------------------------------------------------------

    async def _receive(self) -> EndReason:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                self.last_heard = time.monotonic()
                text = message.get("text")
                if text is None and message.get("bytes") is not None:
                    text = message["bytes"].decode("utf-8", "replace")
                if text is not None and len(text) > MAX_CLIENT_MESSAGE:
                    return EndReason.MESSAGE_TOO_BIG
                await self._answer(text or "")
        return EndReason.CLIENT_LEFT

    async def _answer(self, text: str) -> None:
        """Answer a client ping; anything else (pongs, garbage) only counts as a sign of life."""
        try:
            message = json.loads(text)
        except ValueError:
            return
        if isinstance(message, dict) and message.get("type") == "ping":
            pong = {"type": "pong", "id": message.get("id"), "ts": time.time()}
            await self.send(protocol.dumps(pong))

    # -- ending --------------------------------------------------------------------------

    @staticmethod
    async def _until_ended(subscription: Subscription[Any]) -> EndReason:
        await subscription.ended()
        if subscription.state is SubscriptionState.OVERFLOWED:
            log.warning("[WS] dropped a client that fell too far behind")
            return EndReason.TOO_FAR_BEHIND
        return EndReason.SERVER_STOPPING

    async def _close(self, reason: EndReason) -> None:
        if reason.value is None:
            return
        # A client that stopped reading may never take the close frame either: don't wait.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.websocket.close(reason.value, reason.name.lower()), 1.0)


class CollectionSession(Session):
    """A client of one collection: the seed's full lists, or protocol 2's snapshot and deltas."""

    def __init__(
        self,
        websocket: WebSocket,
        collection: Collection,
        *,
        heartbeat_s: float = 15.0,
        send_timeout_s: float = 60.0,
    ) -> None:
        super().__init__(websocket, heartbeat_s=heartbeat_s)
        self.collection = collection
        self.endpoint = f"/ws/{collection.name}"
        self.send_timeout_s = send_timeout_s

    def _subscribe(self) -> Subscription[Change]:
        # A seed-format list carries everything, so however many changes wait, one list
        # answers them all: how many wait says nothing about the client. What does is a send
        # that stays blocked (`_send_full_lists`). Deltas can't be folded: they are counted.
        return self.collection.subscribe(latest_only=self.request.protocol == 1)

    async def _send_changes(self, subscription: Subscription[Any]) -> EndReason:
        if self.request.protocol == 1:
            return await self._send_full_lists(subscription)
        sent = await self._send_start()
        while changes := await subscription.next_batch():
            fresh = [c for c in changes if c.seq > sent]
            if fresh:
                await self.send(protocol.delta_message(self.collection, fresh), fresh[-1].ts)
                sent = fresh[-1].seq
        return EndReason.CLIENT_LEFT

    async def _send_full_lists(self, subscription: Subscription[Any]) -> EndReason:
        sent = self.collection.seq
        if not await self._send_list(None):
            return EndReason.TOO_FAR_BEHIND
        while changes := await subscription.next_batch():
            # The seed format carries the whole list, so a burst collapses into one message.
            if self.collection.seq != sent:
                sent = self.collection.seq
                if not await self._send_list(changes[-1].ts):
                    return EndReason.TOO_FAR_BEHIND
        return EndReason.CLIENT_LEFT

    async def _send_list(self, change_ts: float | None) -> bool:
        """Send the current list; False when the client has not taken it in `send_timeout_s`
        (its send waits while the socket's buffers are full: it stopped reading)."""
        try:
            await asyncio.wait_for(
                self.send(protocol.seed_message(self.collection), change_ts), self.send_timeout_s
            )
        except TimeoutError:
            log.warning(
                "[WS] dropped a client that fell too far behind (a list unsent for %.0fs)",
                self.send_timeout_s,
            )
            return False
        return True

    async def _send_start(self) -> int:
        """Resume with the missed deltas when possible, else start from a snapshot."""
        request = self.request
        if request.since is not None and request.epoch == self.collection.epoch:
            missed = self.collection.since(request.since)
            if missed is not None:
                # Always one delta, empty when nothing was missed: it confirms the resume.
                await self.send(protocol.resume_message(self.collection, missed))
                return self.collection.seq
        await self.send(protocol.snapshot_message(self.collection))
        return self.collection.seq
