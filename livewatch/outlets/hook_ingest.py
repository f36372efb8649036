"""`POST /events` from hook scripts, answered in raw ASGI before the middleware stack.

At 1,000 posts a second every microsecond per post counts. Through the full stack a post
crosses about a dozen layers (NiceGUI's `BaseHTTPMiddleware`s each spawn a task and wrap
the body stream, then FastAPI's router and its dependency solver) for what is a plain
"read a body, answer JSON". Scripts (`send_event.py`) send no `Origin`, so they need no
CORS; this layer answers them itself, with the same checks (`AccessPolicy`'s token, from
`?token=` or the header, the body limit, and `hooks_api.take`'s 422, 429 and 503). Anything
else (a browser's post, with its Origin and CORS; every other path) goes down the stack.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livewatch.outlets import hooks_api
from livewatch.security.access import HOOK_INGEST, AccessPolicy, offered_token

log = logging.getLogger("livewatch.hooks")

UNAUTHORIZED = b'{"error":"unauthorized","detail":"missing or wrong token"}'
FAILED = b'{"error":"internal error","detail":"the server failed to take this event"}'


def install_fast_path(app: Starlette, policy: AccessPolicy) -> None:
    """Put `HookFastPath` outside the whole middleware stack of `app`.

    `add_middleware` would not do: NiceGUI's `ui.run` adds its own middlewares later, and
    the last added runs first. Starlette builds the stack once, on the first request (the
    lifespan's), through `build_middleware_stack`, its documented hook for subclasses.
    """
    build = app.build_middleware_stack

    def build_with_fast_path() -> ASGIApp:
        return HookFastPath(build(), policy)

    app.build_middleware_stack = build_with_fast_path  # type: ignore[method-assign]


class HookFastPath:
    """Pure ASGI: a script's `POST /events` is answered here; everything else passes on."""

    def __init__(self, app: ASGIApp, policy: AccessPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != HOOK_INGEST
            or scope["method"] != "POST"
            or any(name == b"origin" for name, _ in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        in_query = _query_token(scope)
        if self.policy.token is not None and not self.policy.token_ok(
            offered_token(scope) if in_query is None else in_query
        ):
            # As AccessMiddleware answers it: never cached.
            await _answer(send, 401, UNAUTHORIZED, {"Cache-Control": "no-store"})
            return
        try:
            raw = await _read(scope, receive, hooks_api.max_body())
        except _SenderLeft:
            return
        try:
            status, body, headers = await hooks_api.take(raw)
        except Exception:  # outside Starlette's error middleware: answer (and log) as it would
            log.exception("[HOOKS] POST /events failed")
            await _answer(send, 500, FAILED)
            return
        await _answer(send, status, body, headers)


class _SenderLeft(Exception):
    """The client went away before its body was in: there is nobody to answer."""


def _query_token(scope: Scope) -> str | None:
    """`?token=`: a hook script cannot set headers (else a header or cookie may offer one).

    A token in the query is taken out of the scope, so no log line (uvicorn's access log
    included) ever shows it, whether or not a token is required."""
    query: bytes = scope.get("query_string", b"")
    if b"token=" in query:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        found = next((v for k, v in pairs if k == "token"), None)
        if found is not None:
            rest = [(k, v) for k, v in pairs if k != "token"]
            scope["query_string"] = urlencode(rest).encode("latin-1")
            return found
    return None


async def _read(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The body, or None as soon as it is over `limit` bytes (never buffering more)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":
            raise _SenderLeft
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _answer(
    send: Send, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
