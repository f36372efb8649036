"""Agent events over REST and WebSocket: `/api/events`, `/api/events/{seq}`, `/ws/events`.

Lists come from the store (the whole retained history, filtered and paged in SQL), topped up
from the hub's window with events the store has not written yet, so an event is listed the
moment it is broadcast. Without a store (it failed to open) the window alone answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, WebSocket
from fastapi.responses import JSONResponse

from livewatch import runtime
from livewatch.hub.event_filter import EventFilter
from livewatch.hub.event_log import EventLog
from livewatch.outlets.event_session import EventSession
from livewatch.security.text_masking import mask_deep, mask_text
from livewatch.store.events import StoreError

router = APIRouter()
MAX_LIMIT = 1000
FLUSH_WAIT_S = 2.0


def _window_page(
    log: EventLog,
    matching: EventFilter,
    *,
    before: int | None,
    after: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """A page of the hub's window, newest first, with the same paging as the store."""
    found = []
    for event in log.recent(len(log), matching)[::-1]:
        seq = event["seq"]
        if before is not None and seq >= before:
            continue
        if after is not None and seq <= after:
            break
        found.append(event)
    if after is not None:  # the events right after `after`, still listed newest first
        found = found[-limit:]
    return found[:limit]


@router.get("/api/events", tags=["events"])
async def list_events(
    request: Request,
    before: Annotated[
        int | None, Query(ge=0, description="only events older than this seq")
    ] = None,
    after: Annotated[int | None, Query(ge=0, description="only events newer than this seq")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> JSONResponse:
    """Agent events, newest first; filter by workflow, agent, app, kind, tool and `q`."""
    rt = runtime.current()
    matching = EventFilter.from_query(request.query_params)
    log = rt.hub.events
    fresh = _window_page(log, matching, before=before, after=after, limit=limit)
    store = rt.event_store
    if store is not None and store.state == "ok":
        written = store.durable_seq
        unwritten = [e for e in fresh if e["seq"] > written]
        try:
            stored = await asyncio.to_thread(
                store.query, **matching.as_kwargs(), before=before, after=after, limit=limit
            )
        except StoreError:  # unreadable for now: the window answers alone
            stored = []
        seen = {e["seq"] for e in unwritten}
        merged = unwritten + [e for e in stored if e["seq"] not in seen]
        if after is not None:
            merged = sorted(merged, key=lambda e: e["seq"])[:limit][::-1]
        fresh = merged[:limit]
    headers = {"X-Livewatch-Seq": str(log.seq), "X-Livewatch-Epoch": log.epoch}
    return JSONResponse(fresh, headers=headers)


@router.get(
    "/api/events/{seq}",
    tags=["events"],
    responses={404: {"description": "No such event (or pruned)"}},
)
async def get_event(seq: int) -> JSONResponse:
    """One event with its full payload (the raw line or hook body), secrets masked."""
    rt = runtime.current()
    store, log = rt.event_store, rt.hub.events
    event = None
    if store is not None and store.state == "ok":
        if store.durable_seq < seq <= log.seq:  # broadcast a moment ago: wait for its write
            await store.flush(seq, timeout=FLUSH_WAIT_S)
        with contextlib.suppress(StoreError):
            event = await asyncio.to_thread(store.get, seq)
    if event is None:  # no store, or not written yet: the window has it, without payload
        event = next((e for e in log.recent(len(log)) if e["seq"] == seq), None)
    if event is None:
        return JSONResponse({"detail": f"no event {seq}"}, status_code=404)
    return JSONResponse({**event, "payload": masked_payload(event.get("payload"))})


def masked_payload(payload: object) -> object:
    """The payload as JSON when it is JSON, with secrets masked by key and in free text."""
    if not isinstance(payload, str):
        return payload
    try:
        parsed = json.loads(payload)
    except ValueError:
        return mask_text(payload)
    return mask_deep(parsed)


@router.websocket("/ws/events")
async def events_socket(websocket: WebSocket) -> None:
    """Live agent events: the last 300 that match, then each new batch; resumable."""
    rt = runtime.current()
    await EventSession(websocket, rt.hub.events, heartbeat_s=rt.settings.heartbeat_s).run()
