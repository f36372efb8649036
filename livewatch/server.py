"""Compose the one process: NiceGUI's app with the raw API, the pages and the runtime."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import socket
from collections.abc import Callable

from fastapi.middleware.cors import CORSMiddleware
from nicegui import app, ui
from nicegui.server import Server

from livewatch import runtime
from livewatch.demo.simulator import Simulator
from livewatch.outlets import alerts_api, api, events_api, history_api, hooks_api
from livewatch.outlets.hook_ingest import install_fast_path
from livewatch.page_loader import bundled_pages_dir, load_pages
from livewatch.security.access import AccessMiddleware, AccessPolicy
from livewatch.settings import Settings
from livewatch.sources import hooks, routes
from livewatch.sources.prefetch import FirstScan
from livewatch.supervision import sleep_unless

log = logging.getLogger("livewatch")

# Applies to every WebSocket, NiceGUI's socket.io too; /ws/* enforce their own 64 KB limit.
MAX_WS_FRAME = 1024 * 1024
WS_PING_S = 60.0
FIRST_PASS_POLL_S = 0.5


def create(settings: Settings, *, demo: bool = False) -> runtime.Runtime:
    """Wire the API, the pages and the watchers onto NiceGUI's app (once per process)."""
    policy = AccessPolicy.build(settings.token, settings.allow_origin)
    app.add_middleware(AccessMiddleware, policy=policy)
    # The seed's React client polls /api from its Vite dev server on another loopback port;
    # the hooks dashboard's Vue client reads /events/* and posts to its (404) theme and
    # human-in-the-loop endpoints, which must answer it readably.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=sorted(policy.allowed_origins),
        allow_origin_regex=r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?",
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=["Authorization", "If-None-Match", "Content-Type"],
        expose_headers=["ETag", "X-Livewatch-Seq", "X-Livewatch-Epoch", "Retry-After"],
    )
    # Outside every middleware: hook scripts' posts skip the stack (see hook_ingest).
    install_fast_path(app, policy)
    # Before the API's router: its JSON-404 catch-all would answer /api/events first.
    app.include_router(events_api.router)
    app.include_router(hooks_api.router)  # its /api/themes 404s too
    app.include_router(history_api.router)  # before the API's JSON-404 catch-all too
    app.include_router(alerts_api.router)
    app.include_router(api.router)
    rt = runtime.Runtime.build(settings, own_routes=lambda: routes.introspect(app))
    runtime.install(rt)
    # Hook posts: the source reads and links them, the outlet serves them.
    hooks_api.install(rt, read=hooks.read_hook, link=hooks.WorkflowLinker(rt.hub.workflows).link)
    app.on_startup(rt.start)
    app.on_startup(freeze_start_up_heap)
    freeze_later = functools.partial(freeze_first_pass, lambda: rt.verifying)
    app.on_startup(lambda: rt.spawn("heap freeze", freeze_later))
    if demo:
        simulator = Simulator(settings.agents_dir)
        app.on_startup(lambda: rt.spawn("demo simulator", simulator.run))
    app.on_shutdown(rt.shutdown)
    if (bundled := bundled_pages_dir()) is not None:
        load_pages(bundled, "livewatch.pages")
    if settings.pages is not None:
        load_pages(settings.pages, "livewatch_user_pages")
    return rt


def freeze_start_up_heap() -> None:
    """Take what start-up made (modules, pages, the first list) out of the collector's sight.

    A full collection walked all of it: 80 to 140 ms with the event loop stopped, every few
    seconds at 1,000 hook posts a second, which was the whole p99. Frozen, it takes 14 to 19 ms.
    Frozen objects are still freed by reference counting; only their cycles stay. No
    collection first: it would hold the port ~0.1 s for the few dozen unreachable objects
    start-up leaves, which then stay.
    """
    gc.freeze()


async def freeze_first_pass(verifying: Callable[[], bool], stop: asyncio.Event) -> None:
    """Freeze again once the first pass is done: what it loaded (every transcript's events, the
    list it checked) lives as long as the start-up heap did.

    Left in the collector's sight, each full collection walked it: 100 to 240 ms with the event
    loop stopped, several times while 100 tabs opened, at 10,000 workflows.
    """
    while verifying():
        if await sleep_unless(stop, FIRST_PASS_POLL_S):
            return
    gc.freeze()
    await stop.wait()  # once per process: a return would be restarted


def run(
    settings: Settings,
    *,
    demo: bool = False,
    first_scan: FirstScan | None = None,
    on_exit: Callable[[], None] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM; `demo` also runs the simulator on the agents dir.

    `first_scan` is a scan already under way in another process (`prefetch.start`).
    `on_exit` runs at shutdown: uvicorn re-raises the signal once it has stopped, so code
    after `ui.run` (or a `finally` around it) never runs on SIGINT or SIGTERM.
    """
    logging.basicConfig(level=settings.log_level.upper(), format="%(message)s")
    if settings.exposed and not settings.token:
        log.warning(
            "[SECURITY] serving on %s without a token: anyone who can reach it sees everything; "
            "set --token or LIVEWATCH_TOKEN",
            settings.host,
        )
    rt = create(settings, demo=demo)
    if on_exit is not None:
        app.on_shutdown(on_exit)
    _say_goodbye_on_shutdown(rt)
    rt.prime(first_scan)
    log.info(
        "[STARTUP] %d workflows from %s; serving http://%s:%d",
        len(rt.hub.workflows),
        "the broker" if settings.broker else settings.agents_dir.absolute(),
        settings.host,
        settings.port,
    )
    ui.run(
        host=settings.host,
        port=settings.port,
        title="livewatch",
        reload=False,
        show=False,
        fastapi_docs=True,
        dark=None,
        show_welcome_message=False,
        uvicorn_logging_level="warning",
        ws_max_size=MAX_WS_FRAME,
        # Deflate compresses each message again for every client, which defeats encoding a
        # change once for all of them; the messages it would shrink are rare (snapshots).
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=3,
        # No Tailwind: its in-browser compiler scans every DOM change for class names (half
        # of Chromium's busy time on `/events`); the few utilities the pages use are plain CSS.
        tailwind=False,
        # uvicorn pings every WebSocket every 20 s by default: ~0.15 % of a core for 100
        # clients through wsproto. Protocol-2 and socket.io clients have heartbeats of their
        # own; this ping is left to find dead seed-format clients, once a minute.
        ws_ping_interval=WS_PING_S,
    )


def _say_goodbye_on_shutdown(rt: runtime.Runtime) -> None:
    """Close our WebSockets with 1001 (going away) before uvicorn drops them with 1012.

    uvicorn shuts connections down before the app's shutdown hooks run, so this must hook
    the server's own shutdown.
    """
    original = Server.shutdown

    async def shutdown(self: Server, sockets: list[socket.socket] | None = None) -> None:
        rt.begin_shutdown()
        await asyncio.sleep(0.1)  # let the sessions send their close frames
        await original(self, sockets)

    Server.shutdown = shutdown  # type: ignore[method-assign]
