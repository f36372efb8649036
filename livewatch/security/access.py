"""Who may connect: the WebSocket Origin check, and the optional access token.

CORS does not protect WebSockets, so every WebSocket (ours and NiceGUI's socket.io) must come
from an allowed Origin: the same origin, a loopback origin (the seed's Vite client on
localhost:5173), or one named with `--allow-origin`. With `--token`, every request needs the
token, from an `Authorization: Bearer` header, the `livewatch_token` cookie, or (WebSockets
only) the subprotocol `livewatch.token.<token>`. A browser may pass `?token=` once: it is
swapped for an HttpOnly cookie and stripped from the URL, so it stays out of logs and history.
`POST /events` (hook scripts, which cannot set headers) takes `?token=` on every request; it
is stripped from the request before the app, or any log, sees it.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("livewatch.access")

COOKIE = "livewatch_token"
TOKEN_SUBPROTOCOL_PREFIX = "livewatch.token."
WS_UNAUTHORIZED = 4401
# Health checks (Docker's HEALTHCHECK, load balancers) carry no token; static assets hold no data.
PUBLIC_PATHS = ("/healthz",)
PUBLIC_PREFIXES = ("/_nicegui/",)
# Claude Code hooks post here (disler's send_event.py), with the token in `?token=` if any.
HOOK_INGEST = "/events"


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class AccessPolicy:
    token: str | None = None
    allowed_origins: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def build(cls, token: str | None, allow_origins: Iterable[str]) -> AccessPolicy:
        origins = frozenset(o.rstrip("/") for o in allow_origins if o)
        return cls(token=token or None, allowed_origins=origins)

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        """A browser's Origin must be ours, loopback, or listed; non-browsers send none."""
        if origin is None:
            return True
        if "*" in self.allowed_origins or origin.rstrip("/") in self.allowed_origins:
            return True
        netloc = urlsplit(origin).netloc
        return netloc == host or is_loopback_host(urlsplit(origin).hostname or "")

    def token_ok(self, offered: str | None) -> bool:
        if self.token is None:
            return True
        return offered is not None and hmac.compare_digest(offered.encode(), self.token.encode())


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}


def offered_token(scope: Scope) -> str | None:
    headers = _headers(scope)
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    cookie = SimpleCookie(headers.get("cookie", ""))
    if COOKIE in cookie:
        return cookie[COOKIE].value
    for subprotocol in scope.get("subprotocols") or []:
        if subprotocol.startswith(TOKEN_SUBPROTOCOL_PREFIX):
            return subprotocol[len(TOKEN_SUBPROTOCOL_PREFIX) :]
    return None


class AccessMiddleware:
    """Pure ASGI, so it guards HTTP and WebSockets alike, NiceGUI's socket.io included."""

    def __init__(self, app: ASGIApp, policy: AccessPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        if not self.policy.origin_allowed(headers.get("origin"), headers.get("host")):
            log.warning("[ACCESS] refused a WebSocket from origin %s", headers.get("origin"))
            await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
            return
        if not self.policy.token_ok(offered_token(scope)):
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": WS_UNAUTHORIZED, "reason": "token"})
            return
        await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path == HOOK_INGEST and scope.get("method") == "POST":
            await self._hook_post(scope, receive, send)
            return
        if self.policy.token is None or path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if "token" in query:
            await self._exchange_query_token(scope, query, send)
            return
        if self.policy.token_ok(offered_token(scope)):
            await self.app(scope, receive, send)
            return
        if path.startswith(("/api/", "/metrics", "/openapi.json", "/events/")):
            body, kind = b'{"detail":"missing or wrong token"}', b"application/json"
        else:
            body, kind = login_form(path).encode(), b"text/html; charset=utf-8"
        await _respond(send, 401, body, [(b"content-type", kind)])

    async def _hook_post(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`POST /events`: a hook script cannot set headers, so `?token=` counts here too.

        The token is taken out of the query string in place, before anything (an access log
        included) sees the request, whether or not a token is required. Scripts send no
        Origin; a browser page may post only from an origin a WebSocket could come from, so
        a web page elsewhere cannot fill the dashboard with made-up events.
        """
        headers = _headers(scope)
        if not self.policy.origin_allowed(headers.get("origin"), headers.get("host")):
            body = b'{"error":"forbidden","detail":"origin not allowed"}'
            await _respond(send, 403, body, [(b"content-type", b"application/json")])
            return
        pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        from_query = next((v for k, v in pairs if k == "token"), None)
        if from_query is not None:
            rest = [(k, v) for k, v in pairs if k != "token"]
            scope["query_string"] = urlencode(rest).encode("latin-1")
        offered = from_query if from_query is not None else offered_token(scope)
        if self.policy.token_ok(offered):
            await self.app(scope, receive, send)
            return
        body = b'{"error":"unauthorized","detail":"missing or wrong token"}'
        await _respond(send, 401, body, [(b"content-type", b"application/json")])

    async def _exchange_query_token(self, scope: Scope, query: dict[str, str], send: Send) -> None:
        """`?token=` once: set the cookie and redirect to the same URL without it."""
        token = query.pop("token")
        if not self.policy.token_ok(token):
            await _respond(send, 401, login_form(scope["path"], failed=True).encode(), [
                (b"content-type", b"text/html; charset=utf-8")
            ])  # fmt: skip
            return
        location = scope["path"] + (f"?{urlencode(query)}" if query else "")
        cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
        await _respond(
            send,
            303,
            b"",
            [(b"location", location.encode()), (b"set-cookie", cookie.encode())],
        )


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        *headers, (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")
    ]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def login_form(path: str, *, failed: bool = False) -> str:
    """A page with no scripts: the token goes back as `?token=`, then becomes a cookie."""
    note = '<p role="alert">That token is not right.</p>' if failed else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>livewatch: sign in</title><meta name="viewport" content="width=device-width">
<style>body{{font:16px system-ui;display:grid;place-items:center;height:90vh}}
form{{display:grid;gap:.6em;min-width:18em}}</style></head><body>
<form method="get" action="{html.escape(path)}" data-testid="login-form">
<h1>livewatch</h1>{note}<label>Access token
<input name="token" type="password" autofocus required data-testid="login-token"></label>
<button type="submit" data-testid="login-submit">Sign in</button></form></body></html>"""
