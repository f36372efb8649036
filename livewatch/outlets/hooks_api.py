"""The hooks dashboard's API, served by livewatch: `POST /events` in, its Vue client's reads out.

Claude Code hooks post with disler's `send_event.py`; their Vue client reads
`WS /stream` (`{"type":"initial","data":[...]}` then `{"type":"event","data":{...}}`),
`GET /events/recent?limit=N` and `GET /events/filter-options`. Every event, from hooks and
from transcripts alike, is served in their `HookEvent` shape (see `hook_shape`).

**Ingest** (`POST /events`): the body is counted while it streams in (413 past
`--hook-max-body-mb`, whatever Content-Length claims), read (422 naming the field), rate
limited per `source_app` (429 with Retry-After), linked to its workflow, appended to the hub,
and answered only once the store has committed it: 200 with the stored event, `id` = its seq.
When the store cannot commit it (degraded, or not within `FLUSH_TIMEOUT_S`) the answer is 503:
the event was shown live and stays queued for the store (nothing is taken back), but it is
not known to be durable, so it was not "accepted". A sender that retries may then store it
twice; `send_event.py` never retries.

Reading a body is a source's job (`livewatch.sources.hooks`), and outlets never import
sources: the wiring hands the reader and the linker over with `install()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, WebSocket
from fastapi.responses import JSONResponse, Response

from livewatch import runtime
from livewatch.hub import protocol
from livewatch.hub.collection import Subscription
from livewatch.hub.event_log import EventBatch, EventLog
from livewatch.hub.events import Event, public
from livewatch.outlets.hook_shape import hook_event, hook_event_type, hook_ids
from livewatch.outlets.session import EndReason, Session
from livewatch.store.events import EventStore, StoreError

log = logging.getLogger("livewatch.hooks")

router = APIRouter()

MAX_LIMIT = 1000
INITIAL_EVENTS = 300  # their server's `initial`, and their client's default window
FLUSH_TIMEOUT_S = 4.0  # send_event.py gives up after 5 s
PARSE_IN_THREAD = 256 * 1024  # bigger bodies (chat) are parsed off the event loop
FILTER_WINDOW = 100_000  # filter options come from the newest this many stored events
FILTER_OPTIONS_TTL_S = 2.0  # their client polls every 10 s, per open tab
MAX_SESSION_IDS = 300  # as their server: DISTINCT session_id ORDER BY DESC LIMIT 300

Reader = Callable[..., tuple[Event, dict[str, Any]]]
Linker = Callable[[Event, Mapping[str, Any]], Event]


# -- the HookEvent form of recent events ----------------------------------------------------


@dataclass
class _Entry:
    event: dict[str, Any]  # public fields
    hook_payload: Any = None
    posted_summary: Any = None
    size: int = 300
    _shaped: dict[str, Any] | None = None
    _encoded: bytes | None = None
    _message: str | None = None

    def shaped(self) -> dict[str, Any]:
        if self._shaped is None:
            self._shaped = hook_event(self.event, self.hook_payload, self.posted_summary)
            self.hook_payload = None  # masked into the shape; the raw form may go
        return self._shaped

    def encoded(self) -> bytes:
        """The HookEvent's JSON: a post's answer, and the heart of every `/stream` message."""
        if self._encoded is None:
            self._encoded = protocol.encode(self.shaped())
        return self._encoded

    def message(self) -> str:
        if self._message is None:
            self._message = (b'{"type":"event","data":' + self.encoded() + b"}").decode()
        return self._message


class HookFeed:
    """The newest events with their hook payloads, shaped (and encoded) once, on demand.

    The hub's ring keeps public fields only, and broadcast batches carry no payload; a
    HookEvent needs the hook's `payload`. So this observer of the event log keeps it beside
    the newest events (at most `max_entries`, about `max_bytes`), without `chat`.
    """

    def __init__(self, max_entries: int = 2000, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._bytes = 0
        self._bodies: dict[int, Mapping[str, Any]] = {}  # id(event) → its body, being appended

    def expect(self, event: Event, body: Mapping[str, Any]) -> None:
        """The parsed body of an event about to be appended, so it is not parsed again."""
        self._bodies[id(event)] = body

    def forget(self, event: Event) -> None:
        self._bodies.pop(id(event), None)

    def observe(self, batch: list[Event], shown: Sequence[dict[str, Any]]) -> None:
        for event, public_form in zip(batch, shown, strict=True):
            body = self._bodies.pop(id(event), None)
            entry = _Entry(public_form)
            if event.get("source") == "hook":
                if body is None:  # appended by someone else: read its stored body
                    with contextlib.suppress(ValueError, RecursionError):
                        parsed = json.loads(event.get("payload") or "{}")
                        body = parsed if isinstance(parsed, dict) else None
                if body is not None:
                    entry.hook_payload = body.get("payload")
                    entry.posted_summary = body.get("summary")
                    entry.size = _size(entry.hook_payload)
            self._add(event["seq"], entry)

    def _add(self, seq: int, entry: _Entry) -> None:
        self._entries[seq] = entry
        self._bytes += entry.size
        while len(self._entries) > 1 and (
            len(self._entries) > self.max_entries or self._bytes > self.max_bytes
        ):
            _, old = self._entries.popitem(last=False)
            self._bytes -= old.size

    def get(self, seq: int) -> _Entry | None:
        return self._entries.get(seq)

    def recent(self, limit: int, up_to: int | None = None) -> list[_Entry]:
        """The newest `limit` entries (up to seq `up_to`), oldest first."""
        found: list[_Entry] = []
        for seq in reversed(self._entries):
            if len(found) >= limit:
                break
            if up_to is None or seq <= up_to:
                found.append(self._entries[seq])
        found.reverse()
        return found

    @property
    def oldest(self) -> int | None:
        return next(iter(self._entries), None)


def _size(value: Any) -> int:
    try:
        return 100 + len(protocol.encode(value))
    except (TypeError, ValueError, RecursionError):
        return 100


# -- rate limit --------------------------------------------------------------------------


class RateLimiter:
    """A token bucket per key: `rate` posts a second, bursts of up to one second's worth.

    Keyed by `source_app`, not by client address: every sender sits behind the same loopback
    address (or proxy), while one runaway project (a hook loop, a fan-out of subagents) is
    what must not crowd out the other projects' events. Least recently used buckets go first
    beyond `max_keys`, so made-up app names cannot grow memory without bound.
    """

    def __init__(self, rate: float, *, max_keys: int = 10_000) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, now: float | None = None) -> float:
        """0 when a post may go now (and count it), else the seconds until one may."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


# -- wiring --------------------------------------------------------------------------------


@dataclass
class HookIngest:
    """What the wiring hands over: the source's reader and linker, the limits, the feed."""

    read: Reader
    link: Linker
    max_body: int
    limiter: RateLimiter
    feed: HookFeed = field(default_factory=HookFeed)
    _options: tuple[float, dict[str, list[str]]] | None = None


_ingest: HookIngest | None = None


def install(rt: runtime.Runtime, *, read: Reader, link: Linker) -> HookIngest:
    """Serve hooks for this runtime: `read(raw, received_ms=)` → (event, body) or raises a
    ValueError with a `field`; `link(event, body)` sets its adw_id."""
    global _ingest
    settings = rt.settings
    ingest = HookIngest(
        read=read,
        link=link,
        max_body=int(settings.hook_max_body_mb * 1024 * 1024),
        limiter=RateLimiter(settings.hook_rate),
    )
    rt.hub.events.observe_public(ingest.feed.observe)
    _ingest = ingest
    return ingest


def max_body() -> int:
    """The largest body `POST /events` takes (--hook-max-body-mb), in bytes."""
    return _current().max_body


def _current() -> HookIngest:
    if _ingest is None:
        raise RuntimeError("hooks are not installed: call hooks_api.install() from the wiring")
    return _ingest


Answer = tuple[int, bytes, dict[str, str] | None]  # status, JSON body, headers


def _error(status: int, error: str, detail: str, **extra: Any) -> Response:
    return _response(_problem(status, error, detail, **extra))


def _response(answer: Answer) -> Response:
    status, body, headers = answer
    return Response(body, status_code=status, headers=headers, media_type="application/json")


# -- POST /events ----------------------------------------------------------------------------


@router.post(
    "/events",
    tags=["hooks"],
    responses={
        413: {"description": "Body over --hook-max-body-mb"},
        422: {"description": "Not JSON, or a required field missing (named in `field`)"},
        429: {"description": "This source_app is over --hook-rate posts/s (see Retry-After)"},
        503: {"description": "Shown live, but the store could not commit it in time"},
    },
)
async def post_event(request: Request) -> Response:
    """Take one hook event as `send_event.py` posts it; answer with it, stored, in the
    HookEvent shape (`id` is its seq).

    Scripts' posts (no Origin) are answered by `hook_ingest.HookFastPath` before the
    middleware stack; this route serves the rest (browsers, with CORS) and the docs."""
    ingest = _current()
    raw = await _read_limited(request, ingest.max_body)
    return _response(await take(raw))


async def take(raw: bytes | None) -> Answer:
    """One posted body (None: it was over the size limit) → (status, its JSON answer, headers).

    The whole ingest, free of any web framework, so the raw ASGI fast path and the route
    answer alike: 413, 422, 429, 503, or 200 with the stored event."""
    ingest = _current()
    received = time.time_ns() // 1_000_000
    if raw is None:
        mb = ingest.max_body / (1024 * 1024)
        return _problem(
            413,
            "body too large",
            f"a hook body may be at most {mb:g} MB (--hook-max-body-mb)",
            limit_bytes=ingest.max_body,
        )
    try:
        if len(raw) > PARSE_IN_THREAD:
            event, body = await asyncio.to_thread(ingest.read, raw, received_ms=received)
        else:
            event, body = ingest.read(raw, received_ms=received)
    except ValueError as error:
        name = getattr(error, "field", "body")
        return _problem(422, f"invalid {name}", str(error), field=name)
    app = str(event.get("app"))
    wait = ingest.limiter.take(app)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        return _problem(
            429,
            "rate limited",
            f"source_app {app!r} is over {ingest.limiter.rate:g} posts/s (--hook-rate)",
            retry_after_s=seconds,
            headers={"Retry-After": str(seconds)},
        )
    ingest.link(event, body)
    rt = runtime.current()
    ingest.feed.expect(event, body)
    try:
        # Shown and stored here, or (behind a broker) on every replica through Redis.
        assert rt.event_sink is not None, "the runtime wires an event sink"
        seq, problem = await rt.event_sink.put(event, timeout=FLUSH_TIMEOUT_S)
    finally:
        ingest.feed.forget(event)
    if seq is None or problem is not None:
        return _problem(503, "not stored", problem or "not stored", id=seq)
    entry = ingest.feed.get(seq)
    if entry is None:  # gone from the feed already (a tiny feed, or a flood): shape it anew
        return 200, protocol.encode(hook_event(public(event))), None
    return 200, entry.encoded(), None


def _problem(status: int, error: str, detail: str, **extra: Any) -> Answer:
    headers = extra.pop("headers", None)
    return status, protocol.encode({"error": error, "detail": detail, **extra}), headers


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is over `limit` bytes (never buffering more)."""
    claimed = request.headers.get("content-length", "")
    if claimed.isdigit() and int(claimed) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


# -- reads: recent, filter options -----------------------------------------------------------


@router.get("/events/recent", tags=["hooks"])
async def recent_events(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = INITIAL_EVENTS,
) -> JSONResponse:
    """The newest `limit` events in the HookEvent shape, oldest first."""
    rt = runtime.current()
    return JSONResponse(await recent_hook_events(rt, limit))


async def recent_hook_events(
    rt: runtime.Runtime, limit: int, up_to: int | None = None
) -> list[dict[str, Any]]:
    """The newest `limit` events (seq ≤ `up_to`), oldest first: the feed's, topped up from
    the store with older ones."""
    feed = _current().feed
    fresh = [entry.shaped() for entry in feed.recent(limit, up_to)]
    missing = limit - len(fresh)
    store = rt.event_store
    if missing <= 0 or store is None or store.state != "ok":
        return fresh
    before = fresh[0]["id"] if fresh else (up_to if up_to is not None else rt.hub.events.seq) + 1
    try:
        older = await asyncio.to_thread(stored_hook_events, store, before, missing)
    except StoreError as error:
        log.warning("[HOOKS] cannot read stored events: %s", str(error).splitlines()[0])
        return fresh
    return older + fresh


def stored_hook_events(store: EventStore, before: int, limit: int) -> list[dict[str, Any]]:
    """The `limit` stored events older than `before` in the HookEvent shape, oldest first."""
    rows = store.hook_page(before, limit)
    shaped = []
    for row in reversed(rows):
        hook_payload = row.pop("hook_payload")
        if isinstance(hook_payload, str | bytes):
            try:
                hook_payload = json.loads(hook_payload)
            except ValueError:
                hook_payload = None
        shaped.append(hook_event(row, hook_payload, row.pop("posted_summary")))
    return shaped


@router.get("/events/filter-options", tags=["hooks"])
async def filter_options() -> JSONResponse:
    """`{"source_apps": [...], "session_ids": [...], "hook_event_types": [...]}`."""
    ingest, rt = _current(), runtime.current()
    now = time.monotonic()
    if ingest._options is not None and now - ingest._options[0] < FILTER_OPTIONS_TTL_S:
        return JSONResponse(ingest._options[1])
    apps: set[str] = set()
    sessions: set[str] = set()
    types: set[str] = set()
    log_ = rt.hub.events
    for event in log_.recent(len(log_)):
        app, session, hook_type = hook_ids(event)
        apps.add(app)
        sessions.add(session)
        types.add(hook_type)
    store = rt.event_store
    if store is not None and store.state == "ok":
        try:
            stored = await asyncio.to_thread(stored_filter_options, store)
        except StoreError as error:
            log.warning("[HOOKS] cannot read filter options: %s", str(error).splitlines()[0])
        else:
            apps.update(stored["source_apps"])
            sessions.update(stored["session_ids"])
            types.update(stored["hook_event_types"])
    options = {
        "source_apps": sorted(apps),
        "session_ids": sorted(sessions, reverse=True)[:MAX_SESSION_IDS],
        "hook_event_types": sorted(types),
    }
    ingest._options = (now, options)
    return JSONResponse(options)


def stored_filter_options(store: EventStore) -> dict[str, list[str]]:
    """The values of each filter among the newest FILTER_WINDOW stored events."""
    found = store.hook_filter_values(FILTER_WINDOW)
    apps, sessions, kinds = found["apps"], found["agents"], found["types"]
    types = {hook_event_type({"hook_event_type": h, "kind": k, "is_error": e}) for h, k, e in kinds}
    return {
        "source_apps": [a for a in apps if a],
        "session_ids": [s for s in sessions if s],
        "hook_event_types": sorted(types),
    }


# -- WS /stream --------------------------------------------------------------------------------


class HookStreamSession(Session):
    """One client of their Vue app: the last 300 events, then each new one, as HookEvents.

    Like `/ws/events`, a client that falls `queue_size` batches behind is closed with 1013,
    and each event is encoded once for every client. Their client sends nothing and answers
    no pings, so there is no heartbeat here (uvicorn's own ping finds dead peers).
    """

    endpoint = "/stream"

    def __init__(self, websocket: WebSocket, rt: runtime.Runtime, feed: HookFeed) -> None:
        super().__init__(websocket, heartbeat_s=rt.settings.heartbeat_s)
        self.rt = rt
        self.log: EventLog = rt.hub.events
        self.feed = feed

    @property
    def _heartbeats(self) -> bool:
        return False

    def _subscribe(self) -> Subscription[EventBatch]:
        return self.log.subscribe()

    async def _send_changes(self, subscription: Subscription[EventBatch]) -> EndReason:
        # Subscribed first, so what is appended while the history is read is not missed.
        sent = self.log.seq
        initial = await recent_hook_events(self.rt, INITIAL_EVENTS, up_to=sent)
        await self.send(protocol.dumps({"type": "initial", "data": initial}))
        while batches := await subscription.next_batch():
            for batch in batches:
                if batch.seq <= sent:
                    continue
                for event in batch.events:
                    if event["seq"] > sent:
                        await self.send(self._message(event), batch.ts)
                sent = batch.seq
        return EndReason.CLIENT_LEFT

    def _message(self, event: dict[str, Any]) -> str:
        entry = self.feed.get(event["seq"])
        if entry is None:  # long gone from the feed: no payload, but the rest is right
            return protocol.dumps({"type": "event", "data": hook_event(event)})
        return entry.message()


@router.websocket("/stream")
async def stream_socket(websocket: WebSocket) -> None:
    """Their client's live feed, in the HookEvent shape."""
    await HookStreamSession(websocket, runtime.current(), _current().feed).run()


# -- their endpoints livewatch does not serve ----------------------------------------------------

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
PLUMBING = "livewatch:plumbing"  # left out of the route list, like the API's JSON-404 catch-all


@router.api_route("/api/themes", methods=ALL_METHODS, include_in_schema=False, name=PLUMBING)
@router.api_route(
    "/api/themes/{rest:path}", methods=ALL_METHODS, include_in_schema=False, name=PLUMBING
)
async def themes_not_served() -> JSONResponse:
    """Their theme store: not part of livewatch."""
    return JSONResponse(
        {
            "success": False,
            "error": "themes are not served by livewatch",
            "detail": "the hooks dashboard's theme API (/api/themes) is out of scope",
        },
        status_code=404,
    )


@router.post("/events/{event_id}/respond", include_in_schema=False, name=PLUMBING)
async def respond_not_served(event_id: str) -> Response:
    """Human-in-the-loop answers: not part of livewatch."""
    return _error(
        404,
        "human-in-the-loop is not served by livewatch",
        "POST /events/{id}/respond of the hooks dashboard is out of scope",
    )


@router.api_route(
    "/events/{rest:path}", methods=ALL_METHODS, include_in_schema=False, name=PLUMBING
)
async def unknown_events_path(rest: str) -> Response:
    """Their other `/events/...` endpoints (query, export, tag): JSON, never the HTML page."""
    return _error(404, "not found", f"no endpoint /events/{rest} in livewatch")
