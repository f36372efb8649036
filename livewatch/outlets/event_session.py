"""`WS /ws/events`: the live agent-event stream, filtered per client, resumable.

First `{"type":"events","seq":S,"epoch":E,"data":[the last 300 that match, oldest first]}`,
then `{"type":"events","seq":S,"data":[...]}` for each batch. `?since=<seq>&epoch=<epoch>`
resumes with what was missed (or, when the window no longer reaches back, a fresh first
message). Pings, pongs and close codes are protocol 2's.
"""

from __future__ import annotations

from typing import Any

from starlette.websockets import WebSocket

from livewatch.hub import protocol
from livewatch.hub.collection import Subscription
from livewatch.hub.event_filter import EventFilter
from livewatch.hub.event_log import EventBatch, EventLog
from livewatch.outlets.session import EndReason, Session

FIRST_MESSAGE_EVENTS = 300


def events_message(
    data: list[dict[str, Any]], seq: int, epoch: str | None = None, *, resumed: bool = False
) -> str:
    message: dict[str, Any] = {"type": "events", "seq": seq}
    if epoch is not None:
        message["epoch"] = epoch
    if resumed:
        message["resumed"] = True
    message["data"] = data
    return protocol.dumps(message)


class EventSession(Session):
    """One `/ws/events` client with its filters."""

    endpoint = "/ws/events"

    def __init__(self, websocket: WebSocket, log: EventLog, *, heartbeat_s: float = 15.0) -> None:
        super().__init__(websocket, heartbeat_s=heartbeat_s)
        self.log = log
        self.matching = EventFilter.from_query(websocket.query_params)

    @property
    def _heartbeats(self) -> bool:
        return True

    def _subscribe(self) -> Subscription[EventBatch]:
        return self.log.subscribe()

    async def _send_changes(self, subscription: Subscription[EventBatch]) -> EndReason:
        sent = await self._send_start()
        key = self.matching.key()
        while batches := await subscription.next_batch():
            fresh = [b for b in batches if b.seq > sent]
            if not fresh:
                continue
            if len(fresh) == 1:
                # The common case: every client with this filter shares one encoding.
                text = fresh[0].encoded(key, lambda b=fresh[0]: self._encode([b]))
            else:  # this client fell behind a little: one message for all it missed
                text = self._encode(fresh)
            if text:
                await self.send(text, fresh[-1].ts)
            sent = fresh[-1].seq
        return EndReason.CLIENT_LEFT

    def _encode(self, batches: list[EventBatch]) -> str:
        """The message for these batches, or "" when none of their events match."""
        events = [e for b in batches for e in b.events]
        if not self.matching.is_empty:
            events = [e for e in events if self.matching.matches(e)]
        return events_message(events, batches[-1].seq) if events else ""

    async def _send_start(self) -> int:
        request, log = self.request, self.log
        if request.since is not None and request.epoch == log.epoch:
            missed = log.since(request.since)
            if missed is not None:
                shown = [e for e in missed if self.matching.matches(e)]
                await self.send(events_message(shown, log.seq, log.epoch, resumed=True))
                return log.seq
        first = log.recent(FIRST_MESSAGE_EVENTS, self.matching)
        await self.send(events_message(first, log.seq, log.epoch))
        return log.seq
